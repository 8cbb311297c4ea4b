/**
 * The renderer of `application/vnd.nemotron.response+json`: one response, live or saved.
 *
 * JupyterLab calls `renderModel` again on the same renderer when the kernel updates the
 * output (the final bundle after the live document), so every part keeps its DOM and its
 * state across updates: the reader's scroll position, a thinking panel they opened, a sort
 * they chose. While the cell streams, appends arrive from {@link LiveRegistry}.
 */

import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { LiveRegistry } from './live';
import { copyButton, IMarkdownTools, MarkdownView, renderUntrusted } from './markdown';
import { el, footerNode, noteNode, ThinkingPanel, toolCards } from './parts';
import { ModelOutputSanitizer } from './safe';
import { SortableTable } from './table';
import {
  Format,
  ILiveAppend,
  INote,
  IResponseDoc,
  IRound,
  IToolCall,
  MIME_TYPE
} from './types';

/** Set only on change: an assignment of the same value still costs the page a style pass. */
function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) {
    node.textContent = text;
  }
}

function setHidden(node: HTMLElement, hidden: boolean): void {
  if (node.hidden !== hidden) {
    node.hidden = hidden;
  }
}

function fenced(text: string, language: string | null): string {
  // The longest run of backticks in the text, without spreading every run into one call.
  const longest = (text.match(/`+/g) ?? []).reduce((most, run) => Math.max(most, run.length), 2);
  const marks = '`'.repeat(longest + 1);
  return `${marks}${(language ?? '').replace(/[^\w+#.-]/g, '').slice(0, 40)}\n${text}\n${marks}`;
}

/**
 * The fields a document from the wire may lack (an older kernel, a hand-edited notebook):
 * filled in place, so that appends and later renders see the same object.
 */
function complete(doc: IResponseDoc): IResponseDoc {
  if (typeof doc.content !== 'string') {
    doc.content = '';
  }
  if (typeof doc.reasoning !== 'string') {
    doc.reasoning = '';
  }
  if (!Array.isArray(doc.tool_calls)) {
    doc.tool_calls = [];
  }
  if (!Array.isArray(doc.notes)) {
    doc.notes = [];
  }
  if (!Array.isArray(doc.footer)) {
    doc.footer = [];
  }
  if (!Array.isArray(doc.rounds)) {
    doc.rounds = [];
  }
  doc.done = !!doc.done;
  return doc;
}

/** An earlier round of a tool loop, drawn once: its thinking, what it said, its calls. */
async function roundNode(round: IRound, tools: IMarkdownTools): Promise<HTMLElement> {
  const node = el('div', 'nm-round');
  if (round.reasoning) {
    const panel = new ThinkingPanel();
    panel.reset(round.reasoning);
    panel.update(round.thinking ?? 'Thinking', false);
    node.append(panel.node);
  }
  if ((round.content ?? '').trim()) {
    const answer = el('div', 'nm-answer');
    await renderUntrusted(answer, round.content, tools);
    node.append(answer);
  }
  node.append(...toolCards(round.tool_calls ?? []));
  return node;
}

export class ResponseRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(options: IRenderMime.IRendererOptions, registry: LiveRegistry) {
    super();
    this._registry = registry;
    this._tools = {
      sanitizer: new ModelOutputSanitizer(options.sanitizer),
      resolver: options.resolver,
      linkHandler: options.linkHandler,
      latexTypesetter: options.latexTypesetter,
      markdownParser: options.markdownParser ?? null,
      translator: options.translator
    };
    this.addClass('jp-RenderedNemotron');
    this.node.dataset.mimeType = MIME_TYPE;
    this._markdown = new MarkdownView(this._tools);
    this._answer.append(this._answerBar, this._markdown.node, this._plain);
    this._answerBar.append(copyButton(() => this._copyText(), 'Copy the answer'));
    this._arrange();
  }

  /** Resolves when everything received so far is on screen (tests and the benchmark). */
  get idle(): Promise<void> {
    return this._work.then(() => this._markdown.idle);
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const doc = model.data[MIME_TYPE] as unknown as IResponseDoc | undefined;
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
      this.node.textContent = 'Not a Nemotron response.';
      return;
    }
    complete(doc);
    if (this._footer.parentNode !== this.node) {
      this._arrange(); // after a document that was not one
    }
    const live = doc.live?.id ?? null;
    if (this._live !== null && this._live !== live) {
      this._registry.end(this._live); // the final bundle: no more appends for the live id
    }
    this._doc = doc;
    this._format = doc.format;
    // After the appends already queued (which skip themselves: this document has them all).
    this._chain(() => this._fromDoc(doc));
    if (live !== null && this._live !== live) {
      this._live = live;
      this._registry.listen(live, message => this._apply(message));
    }
    this._live = live;
    await this.idle;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    if (this._live !== null) {
      this._registry.end(this._live);
      this._live = null;
    }
    super.dispose();
  }

  private _arrange(): void {
    this.node.replaceChildren(
      this._rounds,
      this._status,
      this._thinking.node,
      this._answer,
      this._tableHost,
      this._tools_,
      this._notes,
      this._footer
    );
  }

  /** One step after the others; a step that fails is logged and does not stop the rest. */
  private _chain(step: () => void | Promise<void>): void {
    this._work = this._work
      .then(step)
      .catch(reason => console.error('nemotron-magics: rendering failed', reason));
  }

  // -- a whole document (the first, the final, or a saved one) ------------------------------

  private async _fromDoc(doc: IResponseDoc): Promise<void> {
    this.node.dataset.done = String(doc.done);
    setText(this._status, doc.done ? '' : 'waiting for the first token…');
    setHidden(this._status, doc.done);
    await this._setRounds(doc.rounds ?? []);
    if (doc.reasoning !== this._thinking.text) {
      if (doc.reasoning.startsWith(this._thinking.text)) {
        this._thinking.append(doc.reasoning.slice(this._thinking.text.length));
      } else {
        this._thinking.reset(doc.reasoning);
      }
    }
    const answering =
      !doc.reasoning || !!doc.content || doc.tool_calls.length > 0 || doc.done;
    this._thinking.update(doc.thinking ?? 'Thinking', !answering);
    this._showAnswer(doc);
    this._setCalls(doc.tool_calls);
    this._setNotes(doc.notes);
    this._setFooter(doc.footer);
  }

  private _showAnswer(doc: IResponseDoc): void {
    const fmt = doc.format;
    if (fmt === 'markdown') {
      this._plain.hidden = true;
      this._markdown.node.hidden = false;
      if (doc.content.startsWith(this._markdown.text)) {
        void this._markdown.append(doc.content.slice(this._markdown.text.length));
        if (doc.done) {
          void this._markdown.finish();
        }
      } else {
        void this._markdown.reset(doc.content, doc.done);
      }
    } else if (fmt === 'schema' && doc.done && doc.structured) {
      this._showStructured(doc);
    } else if (doc.done && doc.answer && fmt !== 'text') {
      // json and code: highlighted once complete, in the theme's colours
      this._plain.hidden = true;
      this._markdown.node.hidden = false;
      void this._markdown.reset(
        fenced(doc.answer.text, doc.answer.language ?? (fmt === 'json' ? 'json' : null)),
        true
      );
    } else {
      this._markdown.node.hidden = true;
      this._plain.hidden = false;
      const text = doc.done && doc.answer ? doc.answer.text : doc.content;
      if (text.startsWith(this._plain.textContent ?? '')) {
        this._plain.append(text.slice((this._plain.textContent ?? '').length));
      } else {
        this._plain.textContent = text;
      }
    }
    this._showOrHideAnswer();
  }

  /** The answer box shows text; a schema's table, once there is one, stands in its place. */
  private _showOrHideAnswer(): void {
    const doc = this._doc;
    const text = !!doc && !!(doc.content || doc.answer?.text);
    const table = this._table !== null && this._tableHost.contains(this._table.node);
    setHidden(this._answer, !text || table);
  }

  private _showStructured(doc: IResponseDoc): void {
    const structured = doc.structured!;
    const table = structured.table;
    this._tableHost.replaceChildren();
    if (table) {
      this._table = this._table ?? new SortableTable();
      this._table.set(table.columns, table.dtypes, table.rows, structured.shape);
      this._tableHost.append(this._table.node);
    } else {
      this._plain.hidden = false;
      this._markdown.node.hidden = true;
      this._plain.textContent = doc.answer?.text ?? doc.content;
    }
    if (structured.validation_errors.length) {
      this._tableHost.append(
        el('div', 'nm-note nm-note-error', 'Not valid against the schema:'),
        el('pre', 'nm-validation', structured.validation_errors.join('\n'))
      );
    }
    if (structured.repairs.length) {
      this._tableHost.append(
        el('div', 'nm-note nm-note-info', `Repaired: ${structured.repairs.join('; ')}`)
      );
    }
  }

  private _setCalls(calls: IToolCall[]): void {
    const key = JSON.stringify(calls);
    if (key !== this._callsKey) {
      this._callsKey = key;
      this._tools_.replaceChildren(...toolCards(calls));
    }
  }

  private async _setRounds(rounds: IRound[]): Promise<void> {
    while (this._roundCount < rounds.length) {
      this._rounds.append(await roundNode(rounds[this._roundCount], this._tools));
      this._roundCount += 1;
    }
  }

  // -- appends while streaming -------------------------------------------------------------

  private _apply(message: ILiveAppend): void {
    const doc = this._doc;
    if (doc === null || !doc.live) {
      return; // final already: it has everything
    }
    // Each step below runs after those before it; a final bundle that came meanwhile (a new
    // document) has everything this append brings, so the step then does nothing.
    const current = () => this._doc === doc && !!doc.live;
    if (message.round) {
      // A tool loop moved on: the finished round is drawn whole above, the next starts empty.
      const round = message.round;
      this._chain(async () => {
        if (!current()) {
          return;
        }
        doc.rounds = [...(doc.rounds ?? []), round];
        doc.content = doc.reasoning = '';
        doc.tool_calls = [];
        await this._setRounds(doc.rounds);
        this._thinking.reset('');
        void this._markdown.reset('', false);
        this._plain.textContent = '';
        this._table?.node.remove();
        this._table = null;
        this._setCalls([]);
      });
      return;
    }
    const set = message.set ?? {};
    this._chain(() => {
      if (!current()) {
        return;
      }
      if (message.reasoning) {
        doc.reasoning += message.reasoning;
        this._thinking.append(message.reasoning);
      }
      if (message.content) {
        doc.content += message.content;
        if (this._format === 'markdown') {
          void this._markdown.append(message.content);
        } else if (this._format !== 'schema' || !this._table) {
          this._plain.append(message.content);
          this._plain.hidden = false;
        }
      }
      if (message.rows) {
        if (this._table === null) {
          this._table = new SortableTable();
          this._tableHost.replaceChildren(this._table.node);
        }
        this._table.append(message.rows.columns, message.rows.append);
      }
      this._showOrHideAnswer();
      if (set.status !== undefined) {
        setText(this._status, set.status);
        setHidden(this._status, false);
      }
      if (set.tool_calls) {
        doc.tool_calls = set.tool_calls;
        this._setCalls(set.tool_calls);
      }
      if (set.thinking !== undefined) {
        doc.thinking = set.thinking;
      }
      const answering = !!doc.content || doc.tool_calls.length > 0;
      this._thinking.update(doc.thinking ?? 'Thinking', !answering);
      if (set.notes) {
        doc.notes = set.notes;
        this._setNotes(set.notes);
      }
      if (set.footer) {
        doc.footer = set.footer;
        this._setFooter(set.footer);
      }
    });
  }

  // Twenty messages a second repeat most of these: the DOM is touched only when they change.
  private _setNotes(notes: INote[]): void {
    const key = JSON.stringify(notes);
    if (key !== this._notesKey) {
      this._notesKey = key;
      this._notes.replaceChildren(...notes.map(noteNode));
    }
  }

  private _setFooter(parts: string[]): void {
    const key = parts.join('\u0000');
    if (key !== this._footerKey) {
      this._footerKey = key;
      this._footer.replaceWith((this._footer = footerNode(parts)));
    }
  }

  private _copyText(): string {
    const doc = this._doc;
    if (doc === null) {
      return '';
    }
    return doc.answer?.text ?? doc.content;
  }

  private readonly _registry: LiveRegistry;
  private readonly _tools: IMarkdownTools;
  private readonly _markdown: MarkdownView;
  private readonly _rounds = el('div', 'nm-rounds');
  private readonly _status = el('div', 'nm-status');
  private readonly _thinking = new ThinkingPanel();
  private readonly _answer = el('div', 'nm-answer');
  private readonly _answerBar = el('div', 'nm-answer-bar');
  private readonly _plain = el('pre', 'nm-plain');
  private readonly _tableHost = el('div', 'nm-structured');
  private readonly _tools_ = el('div', 'nm-tools');
  private readonly _notes = el('div', 'nm-notes');
  private _footer: HTMLElement = el('div', 'nm-footer');
  private _table: SortableTable | null = null;
  private _doc: IResponseDoc | null = null;
  private _format: Format = 'markdown';
  private _live: string | null = null;
  private _callsKey = '';
  private _notesKey = '[]';
  private _footerKey: string | null = null;
  private _roundCount = 0;
  private _work: Promise<void> = Promise.resolve();
}
