/**
 * The pieces of a response that are not Markdown: the thinking panel, tool cards, the table,
 * notes and the footer. Model text only ever goes in as `textContent`: never as HTML.
 */

import type { INote, IToolCall } from './types';

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/**
 * The collapsible reasoning: open while the model thinks, collapsed once it answers, unless
 * the reader opened or closed it themselves (then it stays as they left it). The text grows
 * by appending, and follows the end only while the reader is at the end.
 */
export class ThinkingPanel {
  readonly node = el('details', 'nm-thinking');

  constructor() {
    this._summary.addEventListener('click', () => {
      this._chosen = true; // the reader decides from now on
    });
    this.node.append(this._summary, this._body);
    this.node.hidden = true;
  }

  get text(): string {
    return this._text;
  }

  append(text: string): void {
    if (!text) {
      return;
    }
    const body = this._body;
    // Reading the scroll position costs a layout: only an open panel has one to keep.
    const atEnd = this.node.open && body.scrollHeight - body.scrollTop - body.clientHeight < 8;
    this._text += text;
    body.append(document.createTextNode(text));
    if (this.node.hidden) {
      this.node.hidden = false;
    }
    if (atEnd) {
      body.scrollTop = body.scrollHeight;
    }
  }

  reset(text: string): void {
    this._text = '';
    this._body.replaceChildren();
    this.node.hidden = true;
    this.append(text);
  }

  update(summary: string, thinking: boolean): void {
    if (this._summary.textContent !== summary) {
      this._summary.textContent = summary;
    }
    if (!this._chosen && this.node.open !== thinking) {
      this.node.open = thinking;
    }
  }

  private readonly _summary = el('summary', 'nm-thinking-summary', 'Thinking');
  private readonly _body = el('div', 'nm-thinking-body');
  private _text = '';
  private _chosen = false;
}

const FAILED = new Set(['error', 'invalid', 'unknown', 'timeout', 'denied']);

function pretty(call: IToolCall): string {
  if (call.arguments !== null && typeof call.arguments === 'object') {
    return JSON.stringify(call.arguments, null, 2);
  }
  return call.arguments_text;
}

/**
 * Answer the kernel's approval question. The kernel asks through the stdin channel, which
 * JupyterLab shows as an input box under the output: the buttons type the answer into it.
 */
async function answerApproval(from: HTMLElement, yes: boolean): Promise<boolean> {
  const area = from.closest('.jp-OutputArea, .jp-Cell-outputArea, .jp-Cell');
  const input = await inputBox(area);
  if (!input) {
    return false;
  }
  input.value = yes ? 'y' : 'n';
  input.dispatchEvent(
    new KeyboardEvent('keydown', { key: 'Enter', keyCode: 13, bubbles: true })
  );
  return true;
}

/** How long a click waits for the kernel's question to reach the page (ms). */
const INPUT_WAIT = 5000;

/**
 * The input box of the kernel's question. The card says "waiting for approval" just before
 * the kernel asks, so a quick click may come before the box: it waits a little for it.
 */
async function inputBox(area: Element | null): Promise<HTMLInputElement | null> {
  // The newest box: the one just answered can linger a moment before JupyterLab removes it.
  const find = () => {
    const boxes = area ? Array.from(area.querySelectorAll<HTMLInputElement>('.jp-Stdin-input')) : [];
    return boxes.filter(box => !box.readOnly && !box.disabled).pop() ?? null;
  };
  const deadline = performance.now() + INPUT_WAIT;
  let input = find();
  while (!input && area && performance.now() < deadline) {
    await new Promise(resolve => window.setTimeout(resolve, 50));
    input = find();
  }
  return input;
}

/** One card: name, status, arguments, result (or what went wrong), duration. */
export function toolCard(call: IToolCall): HTMLElement {
  const failed = FAILED.has(call.status);
  const card = el('div', `nm-tool${failed ? ' nm-tool-failed' : ''}`);
  card.dataset.status = call.status;
  const head = el('div', 'nm-tool-head');
  head.append(
    el('span', 'nm-tool-label', 'Tool call'),
    el('span', 'nm-tool-name', call.name || '?'),
    el('span', `nm-tool-status nm-status-${call.status.replace(/\W+/g, '-')}`, call.status)
  );
  if (call.duration !== null && call.duration !== undefined) {
    head.append(el('span', 'nm-tool-duration', `${call.duration.toFixed(2)} s`));
  }
  card.append(head, el('pre', 'nm-tool-args', pretty(call)));
  if (call.status === 'waiting for approval') {
    const ask = el('div', 'nm-tool-approve');
    const approve = el('button', 'jp-Button jp-mod-accept nm-approve', 'Approve');
    const deny = el('button', 'jp-Button jp-mod-reject nm-deny', 'Deny');
    const say = el('span', 'nm-tool-approve-note', '');
    for (const [button, yes] of [
      [approve, true],
      [deny, false]
    ] as const) {
      button.type = 'button';
      button.addEventListener('click', () => {
        approve.disabled = deny.disabled = true; // one answer per question
        void answerApproval(card, yes).then(sent => {
          if (!sent) {
            approve.disabled = deny.disabled = false;
            say.textContent = 'Answer in the input box below.';
          }
        });
      });
    }
    ask.append(approve, deny, say);
    card.append(ask);
  }
  if (call.error) {
    card.append(el('div', 'nm-tool-error', call.error));
  } else if (call.result !== null && call.result !== undefined) {
    card.append(el('pre', 'nm-tool-result', call.result));
  }
  return card;
}

export function toolCards(calls: IToolCall[]): HTMLElement[] {
  return calls.map(toolCard);
}

const NOTE_LABELS: Partial<Record<INote['kind'], string>> = {
  cutoff: 'Cut off:',
  stopped: 'Stopped:',
  error: 'Error:'
};

export function noteNode(note: INote): HTMLElement {
  const node = el('div', `nm-note nm-note-${note.kind}`);
  const label = NOTE_LABELS[note.kind];
  if (label) {
    node.append(el('strong', 'nm-note-label', label), document.createTextNode(' '));
  }
  node.append(document.createTextNode(note.text));
  return node;
}

export function footerNode(parts: string[]): HTMLElement {
  return el('div', 'nm-footer', parts.join(' · '));
}

export { el };
