/**
 * Where a streaming answer may be cut: finished Markdown blocks, never inside a code fence.
 *
 * The same rules as the kernel's `nemotron_magics/display/_segments.py` (keep the two in
 * step): a cut is safe at a blank line outside a fenced code block, when the next block
 * starts at the margin. An open block that grows past `maxOpen` characters is cut at a line
 * boundary anyway, closing and re-opening its fence so both sides still render as code.
 * Everything before a cut is rendered once and never touched again, so the work per update
 * is bounded by the open block, not by the answer.
 */

const FENCE_OPEN = /^[ \t]*(`{3,}|~{3,})(.*)$/;
const FENCE_CLOSE = /^[ \t]*(`{3,}|~{3,})[ \t]*$/;

/** Finished text: `raw` as it arrived, `render` as it stands alone. */
export interface IPiece {
  raw: string;
  render: string;
}

interface IFence {
  char: string;
  length: number;
}

export class Splitter {
  constructor(options: { markdown?: boolean; maxOpen?: number } = {}) {
    this.markdown = options.markdown ?? true;
    this.maxOpen = options.maxOpen ?? 2000;
  }

  readonly markdown: boolean;
  readonly maxOpen: number;

  feed(text: string): void {
    if (text) {
      this._text += text;
      this._readLines();
    }
  }

  /** The unfinished end, as it renders (with a re-opened fence if a cut split one). */
  get openText(): string {
    return this._prefix + this._text.slice(this._cut);
  }

  /** Whether {@link take} has something: a finished block, or an open block over `maxOpen`. */
  get hasFinished(): boolean {
    return this._cut > 0 || this._text.length > this.maxOpen;
  }

  /** Finished pieces since the last call: whole blocks, then cuts of an over-long open block. */
  take(): IPiece[] {
    const pieces: IPiece[] = [];
    if (this._cut) {
      pieces.push(this._take(this._cut, ''));
    }
    while (this._text.length > this.maxOpen) {
      pieces.push(this._forceCut());
    }
    return pieces;
  }

  /** Everything, open block included (the stream has ended). */
  takeAll(): IPiece[] {
    const pieces = this.take();
    if (this._text) {
      this._scan = this._cut = this._text.length;
      pieces.push(this._take(this._text.length, ''));
    }
    return pieces;
  }

  private _readLines(): void {
    const text = this._text;
    let nl: number;
    while ((nl = text.indexOf('\n', this._scan)) >= 0) {
      const start = this._scan;
      this._scan = nl + 1;
      if (!this.markdown) {
        this._cut = this._scan;
        continue;
      }
      const line = text.slice(start, nl);
      if (this._midLine) {
        this._midLine = this._afterBlank = false;
        continue;
      }
      if (this._fence !== null) {
        const close = FENCE_CLOSE.exec(line);
        if (
          close &&
          close[1][0] === this._fence.char &&
          close[1].length >= this._fence.length
        ) {
          this._fence = null;
        }
        continue;
      }
      if (!line.trim()) {
        this._afterBlank = true;
        continue;
      }
      if (this._afterBlank && line[0] !== ' ' && line[0] !== '\t') {
        this._cut = start; // a new block begins at the margin: everything before is finished
      }
      this._afterBlank = false;
      const opened = FENCE_OPEN.exec(line);
      if (opened && !(opened[1][0] === '`' && opened[2].includes('`'))) {
        this._fence = { char: opened[1][0], length: opened[1].length };
        this._fenceLine = line.replace(/^[ \t]+/, '') + '\n';
      }
    }
  }

  private _take(end: number, closing: string): IPiece {
    const raw = this._text.slice(0, end);
    const piece = { raw, render: this._prefix + raw + closing };
    this._text = this._text.slice(end);
    this._scan -= end;
    this._cut = Math.max(0, this._cut - end);
    this._prefix = '';
    return piece;
  }

  private _forceCut(): IPiece {
    const atLine = this._scan > 0 && this._scan >= Math.floor(this.maxOpen / 4);
    const end = atLine ? this._scan : this._text.length;
    const fence = this._fence;
    const closing =
      fence === null
        ? ''
        : (atLine ? '' : '\n') + fence.char.repeat(fence.length) + '\n';
    if (!atLine) {
      this._scan = end;
      this._midLine = true;
    }
    const piece = this._take(end, closing);
    if (fence !== null) {
      this._prefix = this._fenceLine;
    }
    return piece;
  }

  private _text = '';
  private _scan = 0;
  private _cut = 0;
  private _fence: IFence | null = null;
  private _fenceLine = '';
  private _afterBlank = false;
  private _midLine = false;
  private _prefix = '';
}
