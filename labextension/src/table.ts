/**
 * A structured answer's table: typed columns, sortable by a click on a header, growing as
 * rows stream in. Cells are text (`textContent`), whatever the model put in them.
 */

import { el } from './parts';

type Cell = unknown;

const NUMERIC = /^(int|uint|float|Int|UInt|Float)/;

function shown(value: Cell): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (typeof value === 'object') {
    return JSON.stringify(value);
  }
  return String(value);
}

function blank(value: Cell): boolean {
  return value === null || value === undefined || value === '';
}

/** Two cells that are not blank, in ascending order. */
function compare(a: Cell, b: Cell, numeric: boolean): number {
  if (numeric) {
    const x = Number(a);
    const y = Number(b);
    if (!Number.isNaN(x) && !Number.isNaN(y)) {
      return x - y;
    }
  }
  return shown(a).localeCompare(shown(b), undefined, { numeric: true });
}

interface ISort {
  index: number;
  descending: boolean;
}

export class SortableTable {
  readonly node = el('div', 'nm-table-frame');

  constructor() {
    this._table.className = 'nm-table';
    this._table.append(this._head, this._body);
    this.node.append(this._table, this._shape);
  }

  get rowCount(): number {
    return this._rows.length;
  }

  /** Columns (and dtypes, when known) and all rows at once: a finished answer. */
  set(columns: string[], dtypes: string[], rows: Cell[][], shape: string | null): void {
    this._columns = columns;
    this._dtypes = dtypes;
    this._rows = rows.slice();
    if (this._sort !== null && this._sort.index >= columns.length) {
      this._sort = null; // the column sorted by is gone
    }
    this._header();
    this._redraw();
    this._shape.textContent = shape ?? '';
  }

  /** More rows, as they stream in (the first call also sets the columns). */
  append(columns: string[], rows: Cell[][]): void {
    if (!this._columns.length) {
      this._columns = columns;
      this._header();
    }
    const start = this._rows.length;
    this._rows.push(...rows);
    if (this._sort === null) {
      this._draw(start); // only the new rows touch the DOM
    } else {
      this._redraw();
    }
    this._shape.textContent = `${this._rows.length.toLocaleString()} rows so far…`;
  }

  /** Sort by column `index`; again on the same column reverses. */
  sortBy(index: number): void {
    const descending = this._sort?.index === index && !this._sort.descending;
    this._sort = { index, descending };
    this._redraw();
  }

  private _header(): void {
    const row = document.createElement('tr');
    this._columns.forEach((name, index) => {
      const th = el('th', 'nm-th');
      const button = el('button', 'nm-sort', name);
      button.type = 'button';
      button.title = `Sort by ${name}`;
      button.addEventListener('click', () => this.sortBy(index));
      th.append(button);
      if (this._dtypes[index]) {
        th.append(el('span', 'nm-dtype', this._dtypes[index]));
      }
      row.append(th);
    });
    this._head.replaceChildren(row);
  }

  private _order(): Cell[][] {
    const sort = this._sort;
    if (sort === null) {
      return this._rows;
    }
    const numeric =
      NUMERIC.test(this._dtypes[sort.index] ?? '') ||
      this._rows.every(r => blank(r[sort.index]) || !Number.isNaN(Number(r[sort.index])));
    const sign = sort.descending ? -1 : 1;
    return this._rows
      .map((row, at) => ({ row, at }))
      .sort((a, b) => {
        const x = a.row[sort.index];
        const y = b.row[sort.index];
        if (blank(x) || blank(y)) {
          // blanks last, whichever way the column is sorted
          return Number(blank(x)) - Number(blank(y)) || a.at - b.at;
        }
        return sign * compare(x, y, numeric) || a.at - b.at;
      })
      .map(x => x.row);
  }

  private _redraw(): void {
    this._body.replaceChildren();
    this._draw(0);
    this._head.querySelectorAll('th').forEach((th, index) => {
      const sort = this._sort;
      th.setAttribute(
        'aria-sort',
        sort?.index === index ? (sort.descending ? 'descending' : 'ascending') : 'none'
      );
    });
  }

  private _draw(start: number): void {
    const rows = this._order();
    const frag = document.createDocumentFragment();
    for (let i = start; i < rows.length; i++) {
      const tr = document.createElement('tr');
      for (let c = 0; c < this._columns.length; c++) {
        tr.append(el('td', 'nm-td', shown(rows[i][c])));
      }
      frag.append(tr);
    }
    this._body.append(frag);
  }

  private readonly _table = document.createElement('table');
  private readonly _head = document.createElement('thead');
  private readonly _body = document.createElement('tbody');
  private readonly _shape = el('div', 'nm-table-shape');
  private _columns: string[] = [];
  private _dtypes: string[] = [];
  private _rows: Cell[][] = [];
  private _sort: ISort | null = null;
}
