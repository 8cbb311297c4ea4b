/**
 * A home for `%%nemotron` cells in the notebook editor: the body highlighted as Markdown
 * (it is a prompt, not Python), and a badge that says where the cell goes.
 */

import type { Cell } from '@jupyterlab/cells';
import type { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

export const MAGIC = /^%%nemotron(?:\s|$)/;
const MARKDOWN_MIME = 'text/x-ipythongfm';

/** What a badge shows of a `%%nemotron` flag line: provider, model and reasoning. */
export interface IBadge {
  provider: string | null;
  model: string | null;
  reasoning: string | null;
  chat: string | null;
}

const FLAGS: Record<string, keyof IBadge> = {
  '-p': 'provider',
  '--provider': 'provider',
  '-m': 'model',
  '--model': 'model',
  '--reasoning': 'reasoning',
  '--chat': 'chat'
};

/** The badge facts of a cell's first line, or null when it is not a `%%nemotron` cell. */
export function parseFlags(firstLine: string): IBadge | null {
  if (!MAGIC.test(firstLine)) {
    return null;
  }
  const badge: IBadge = { provider: null, model: null, reasoning: null, chat: null };
  const words = firstLine.trim().split(/\s+/).slice(1);
  for (let i = 0; i < words.length; i++) {
    const [flag, inline] = words[i].split(/=(.*)/s, 2);
    const key = Object.prototype.hasOwnProperty.call(FLAGS, flag) ? FLAGS[flag] : undefined;
    if (key) {
      if (inline !== undefined) {
        badge[key] = inline;
      } else if (i + 1 < words.length && !words[i + 1].startsWith('-')) {
        badge[key] = words[++i]; // a flag's value is the next word, unless that is a flag
      } else {
        badge[key] = null;
      }
    }
  }
  return badge;
}

export function badgeText(badge: IBadge): string {
  const parts = ['Nemotron', badge.provider ?? 'default provider'];
  if (badge.model) {
    parts.push(badge.model);
  }
  if (badge.reasoning) {
    parts.push(`reasoning ${badge.reasoning}`);
  }
  if (badge.chat) {
    parts.push(`chat ${badge.chat}`);
  }
  return parts.join(' · ');
}

/** What loads an editor language: once the kernel's has loaded, ours can follow it. */
export interface ILanguageLoader {
  getLanguage(mime: string): Promise<unknown>;
}

class CellDecoration {
  constructor(
    private readonly _cell: Cell,
    private readonly _languages: ILanguageLoader | null
  ) {
    this._badge.className = 'nm-cell-badge';
    _cell.model.contentChanged.connect(this._update, this);
    _cell.model.mimeTypeChanged.connect(this._update, this);
    _cell.disposed.connect(() => {
      _cell.model.contentChanged.disconnect(this._update, this);
      _cell.model.mimeTypeChanged.disconnect(this._update, this);
    });
    this._update();
  }

  private _update(): void {
    const model = this._cell.model;
    if (model.type !== 'code') {
      return;
    }
    const source = model.sharedModel.getSource();
    const badge = parseFlags(source.slice(0, source.indexOf('\n') >>> 0));
    if (badge === null) {
      if (this._kernelMime !== null) {
        const mime = this._kernelMime;
        this._kernelMime = null;
        model.mimeType = mime;
      }
      this._badge.remove();
      this._cell.removeClass('nm-cell');
      return;
    }
    if (model.mimeType !== MARKDOWN_MIME) {
      const kernelMime = model.mimeType; // the notebook resets it with the kernel's language
      this._kernelMime = kernelMime;
      // The editor loads the language of each mime type it is given, asynchronously, and the
      // last to load wins: switch to Markdown only once the kernel's language has loaded, or a
      // late Python would win over it.
      const toMarkdown = () => {
        if (model.mimeType === kernelMime && this._kernelMime === kernelMime) {
          model.mimeType = MARKDOWN_MIME;
        }
      };
      if (this._languages) {
        void this._languages.getLanguage(kernelMime).then(toMarkdown, toMarkdown);
      } else {
        toMarkdown();
      }
    }
    this._badge.textContent = badgeText(badge);
    this._cell.addClass('nm-cell');
    const host = this._cell.inputArea?.node ?? this._cell.node;
    if (this._badge.parentElement !== host) {
      host.appendChild(this._badge);
    }
  }

  private readonly _badge = document.createElement('div');
  private _kernelMime: string | null = null;
}

const decorated = new WeakSet<Cell>();

function decorate(panel: NotebookPanel, languages: ILanguageLoader | null): void {
  for (const cell of panel.content.widgets) {
    if (!decorated.has(cell)) {
      decorated.add(cell);
      new CellDecoration(cell, languages);
    }
  }
}

/** Decorate every `%%nemotron` cell of every notebook, as it is typed. */
export function decorateNotebooks(
  tracker: INotebookTracker,
  languages: ILanguageLoader | null = null
): void {
  const watch = (panel: NotebookPanel) => {
    let queued = false;
    const soon = () => {
      if (!queued) {
        queued = true;
        requestAnimationFrame(() => {
          queued = false;
          decorate(panel, languages);
        });
      }
    };
    void panel.context.ready.then(() => decorate(panel, languages));
    panel.content.modelContentChanged.connect(soon); // a new cell, or typing
  };
  tracker.widgetAdded.connect((_, panel) => watch(panel));
  tracker.forEach(watch); // notebooks open before this ran: watched too, not decorated once
}
