/**
 * An answer in Markdown that grows: finished blocks are rendered once, only the open end again.
 *
 * Rendering is JupyterLab's own (`renderMarkdown`: its Markdown parser with code highlighting
 * in the theme's colours, its math handling and link handling), always as untrusted, through
 * {@link ModelOutputSanitizer}. Every render goes into a detached element and is attached in
 * one synchronous step, finished blocks and the new open end together, so the reader never
 * sees a block twice or a blank gap (no flicker), and one render at a time is in flight.
 */

import { renderMarkdown } from '@jupyterlab/rendermime';
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';

import { prepareMarkdown } from './prose';
import { Splitter } from './splitter';

const MATH = /\$\$|\\\(|\\\[/;
/**
 * The open end is drawn again at most this often (ms) while no block finishes: ten times a
 * second reads as live, and halves the work of following the kernel's twenty appends a second.
 */
const OPEN_INTERVAL = 100;

export interface IMarkdownTools {
  sanitizer: IRenderMime.ISanitizer;
  resolver: IRenderMime.IResolver | null;
  linkHandler: IRenderMime.ILinkHandler | null;
  latexTypesetter: IRenderMime.ILatexTypesetter | null;
  markdownParser: IRenderMime.IMarkdownParser | null;
  translator?: IRenderMime.ITranslator;
}

/** Render untrusted Markdown into `host` (replacing what it held) with JupyterLab's renderer. */
export async function renderUntrusted(
  host: HTMLElement,
  source: string,
  tools: IMarkdownTools
): Promise<void> {
  try {
    await renderMarkdown({
      host,
      source: prepareMarkdown(source),
      trusted: false,
      sanitizer: tools.sanitizer,
      resolver: tools.resolver,
      linkHandler: tools.linkHandler,
      latexTypesetter: tools.latexTypesetter,
      markdownParser: tools.markdownParser,
      translator: tools.translator,
      shouldTypeset: false // typeset once attached, and only where there is math
    });
  } catch (reason) {
    // A parser that failed on this text: show it as written rather than stop the stream.
    console.warn('nemotron-magics: Markdown rendering failed', reason);
    const pre = document.createElement('pre');
    pre.textContent = source;
    host.replaceChildren(pre);
  }
  addCopyButtons(host);
}

/** A copy button on every code block (our own element, not the model's). */
export function addCopyButtons(host: HTMLElement): void {
  for (const pre of Array.from(host.querySelectorAll('pre'))) {
    if (pre.parentElement?.classList.contains('nm-code')) {
      continue;
    }
    const frame = document.createElement('div');
    frame.className = 'nm-code';
    pre.replaceWith(frame);
    frame.append(pre, copyButton(() => pre.textContent ?? '', 'Copy code'));
  }
}

/** A small button that puts `text()` on the clipboard and says so. */
export function copyButton(text: () => string, title: string): HTMLButtonElement {
  const button = document.createElement('button');
  button.className = 'nm-copy jp-Button';
  button.type = 'button';
  button.title = title;
  button.textContent = 'Copy';
  button.addEventListener('click', () => {
    void copyText(text()).then(ok => {
      button.textContent = ok ? 'Copied' : 'Copy failed';
      window.setTimeout(() => (button.textContent = 'Copy'), 1500);
    });
  });
  return button;
}

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard permission (an insecure origin, a test browser): the selection way.
    const area = document.createElement('textarea');
    area.value = text;
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false; // no execCommand either (an old or headless engine)
    }
    area.remove();
    return ok;
  }
}

export class MarkdownView {
  constructor(
    private readonly _tools: IMarkdownTools,
    readonly node: HTMLElement = document.createElement('div')
  ) {
    this.node.classList.add("nm-markdown", "jp-RenderedHTMLCommon", "jp-RenderedMarkdown");
    this._open.className = 'nm-open';
    this.node.appendChild(this._open);
  }

  /** Everything fed so far, as the model wrote it. */
  get text(): string {
    return this._text;
  }

  /** Renders finished so far (for tests and the benchmark). */
  get renders(): number {
    return this._renders;
  }

  /** More of the answer. */
  append(text: string): Promise<void> {
    if (!text) {
      return this._idle;
    }
    this._text += text;
    this._splitter.feed(text);
    return this._schedule();
  }

  /** The stream ended: the open end is finished too. */
  finish(): Promise<void> {
    this._finished = true;
    return this._schedule();
  }

  /** Start over with `text` (a saved bundle, or a final answer that differs from the stream). */
  reset(text: string, finished: boolean): Promise<void> {
    this._splitter = new Splitter();
    this._text = '';
    this._finished = false;
    this._frozen.forEach(el => el.remove());
    this._frozen = [];
    this._open.replaceChildren();
    this._shownOpen = '';
    this._generation += 1;
    void this.append(text);
    return finished ? this.finish() : this._schedule();
  }

  /** Resolves when what was fed so far is on screen. */
  get idle(): Promise<void> {
    return this._idle;
  }

  private _schedule(): Promise<void> {
    if (!this._queued) {
      this._queued = true;
      // The generation is read when the flush runs, not now: a reset before it runs must not
      // leave the new text waiting for a flush that was already queued (and would be skipped).
      this._idle = this._idle
        .then(() => this._pace())
        .then(() => this._flush())
        .catch(reason => console.error('nemotron-magics: rendering failed', reason));
    }
    return this._idle;
  }

  /** Waits, when only the open end changed and it was drawn less than OPEN_INTERVAL ago. */
  private _pace(): Promise<void> | undefined {
    const wait = this._openAt + OPEN_INTERVAL - performance.now();
    if (wait <= 0 || this._finished || this._splitter.hasFinished) {
      return undefined;
    }
    return new Promise(resolve => window.setTimeout(resolve, wait));
  }

  private async _flush(): Promise<void> {
    this._queued = false;
    const generation = this._generation;
    const pieces = this._finished
      ? this._splitter.takeAll()
      : this._splitter.take();
    const open = this._finished ? '' : this._splitter.openText;
    const hosts: HTMLElement[] = [];
    for (const piece of pieces) {
      const host = document.createElement('div');
      host.className = 'nm-block';
      await renderUntrusted(host, piece.render, this._tools);
      this._renders += 1;
      hosts.push(host);
    }
    let openHost: HTMLElement | null = null;
    if (open !== this._shownOpen) {
      openHost = document.createElement('div');
      if (open) {
        await renderUntrusted(openHost, open, this._tools);
        this._renders += 1;
      }
    }
    if (generation !== this._generation) {
      return; // reset meanwhile: the flush it queued draws the new text
    }
    // One synchronous step: the reader sees the blocks move and the open end change at once.
    for (const host of hosts) {
      this.node.insertBefore(host, this._open);
      this._frozen.push(host);
      this._typeset(host);
    }
    if (openHost !== null) {
      this._open.replaceChildren(...Array.from(openHost.childNodes));
      this._shownOpen = open;
      this._openAt = performance.now();
      this._typeset(this._open);
    }
  }

  private _typeset(host: HTMLElement): void {
    const typesetter = this._tools.latexTypesetter;
    if (typesetter && MATH.test(host.textContent ?? '')) {
      void typesetter.typeset(host);
    }
  }

  private _splitter = new Splitter();
  private _text = '';
  private _finished = false;
  private _frozen: HTMLElement[] = [];
  private readonly _open = document.createElement('div');
  private _shownOpen = '';
  private _queued = false;
  private _idle: Promise<void> = Promise.resolve();
  private _generation = 0;
  private _renders = 0;
  private _openAt = -Infinity;
}
