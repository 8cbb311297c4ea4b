/**
 * The parts that work on text alone: the `%%nemotron` flag line, where a stream may be cut,
 * the Markdown preparation, URL checks, the append registry and the table's sort.
 */

import { badgeText, MAGIC, parseFlags } from '../cells';
import { LiveRegistry } from '../live';
import { prepareMarkdown } from '../prose';
import { isSafeUrl } from '../safe';
import { IPiece, Splitter } from '../splitter';
import { SortableTable } from '../table';
import type { ILiveAppend } from '../types';

describe('the %%nemotron badge', () => {
  it('reads provider, model, reasoning and chat from the flag line', () => {
    const badge = parseFlags(
      '%%nemotron -p openrouter -m nvidia/nemotron-nano-9b-v2 --reasoning high --chat planning'
    );
    expect(badge).toEqual({
      provider: 'openrouter',
      model: 'nvidia/nemotron-nano-9b-v2',
      reasoning: 'high',
      chat: 'planning'
    });
    expect(badgeText(badge!)).toBe(
      'Nemotron · openrouter · nvidia/nemotron-nano-9b-v2 · reasoning high · chat planning'
    );
  });

  it('takes --flag=value and long names, and ignores flags it does not show', () => {
    const badge = parseFlags('%%nemotron --provider=nvidia --model=x -o answer --reasoning=low -t 0.6');
    expect(badge).toEqual({ provider: 'nvidia', model: 'x', reasoning: 'low', chat: null });
    expect(badgeText(badge!)).toBe('Nemotron · nvidia · x · reasoning low');
  });

  it('says "default provider" for a bare %%nemotron line', () => {
    expect(badgeText(parseFlags('%%nemotron')!)).toBe('Nemotron · default provider');
    expect(badgeText(parseFlags('%%nemotron   ')!)).toBe('Nemotron · default provider');
  });

  it('does not take the next flag as a value', () => {
    const badge = parseFlags('%%nemotron -p openrouter -m x --reasoning high --chat');
    expect(badge).toEqual({ provider: 'openrouter', model: 'x', reasoning: 'high', chat: null });
    expect(parseFlags('%%nemotron --chat --new -m x')).toEqual({
      provider: null,
      model: 'x',
      reasoning: null,
      chat: null
    });
    expect(parseFlags('%%nemotron constructor toString')).toEqual({
      provider: null,
      model: null,
      reasoning: null,
      chat: null
    });
  });

  it('gives other cells no badge', () => {
    for (const line of ['%%bash', '%%nemotronx -p a', 'print("%%nemotron")', '', ' %%nemotron', '%nemotron -p a']) {
      expect(parseFlags(line)).toBeNull();
    }
    expect(MAGIC.test('%%nemotron\tprompt')).toBe(true);
  });
});

/** Everything a splitter gives when fed `chunks` (taking after each), and its open end. */
function split(chunks: string[], options?: { markdown?: boolean; maxOpen?: number }): IPiece[] {
  const splitter = new Splitter(options);
  const pieces: IPiece[] = [];
  for (const chunk of chunks) {
    splitter.feed(chunk);
    pieces.push(...splitter.take());
  }
  return [...pieces, ...splitter.takeAll()];
}

describe('where a stream is cut', () => {
  const answer = [
    '# Title',
    '',
    'A paragraph',
    'on two lines.',
    '',
    '- one',
    '- two',
    '',
    '  still item two',
    '',
    '```python',
    'def f():',
    '',
    '    return 1',
    '```',
    '',
    'After the code.',
    ''
  ].join('\n');

  it('cuts at blank lines before a block at the margin, never inside a fence or a list item', () => {
    expect(split([answer]).map(p => p.raw)).toEqual([
      '# Title\n\nA paragraph\non two lines.\n\n- one\n- two\n\n  still item two\n\n```python\ndef f():\n\n    return 1\n```\n\n',
      'After the code.\n'
    ]);
    const stepwise = new Splitter();
    const raws: string[] = [];
    for (const line of answer.split(/(?<=\n)/)) {
      stepwise.feed(line);
      raws.push(...stepwise.take().map(p => p.raw));
    }
    expect(raws).toEqual([
      '# Title\n\n',
      'A paragraph\non two lines.\n\n',
      '- one\n- two\n\n  still item two\n\n',
      '```python\ndef f():\n\n    return 1\n```\n\n'
    ]);
  });

  it('gives the same blocks fed one character at a time as fed all at once', () => {
    const blocks = [
      '# Title\n\n',
      'A paragraph\non two lines.\n\n',
      '- one\n- two\n\n  still item two\n\n',
      '```python\ndef f():\n\n    return 1\n```\n\n',
      'After the code.\n'
    ];
    expect(split(Array.from(answer)).map(p => p.raw)).toEqual(blocks);
    expect(split(answer.split(/(?<=\n)/)).map(p => p.raw)).toEqual(blocks);
    // All at once, the finished blocks come as one piece: the same text, cut at the same end.
    expect(split([answer]).map(p => p.raw).join('')).toBe(blocks.join(''));
  });

  it('holds an open fence back until it closes, even across a blank line', () => {
    const splitter = new Splitter();
    splitter.feed('Intro.\n\n```js\nconst a = 1;\n\n');
    expect(splitter.take().map(p => p.raw)).toEqual(['Intro.\n\n']);
    splitter.feed('const b = 2;\n\nmore');
    expect(splitter.take()).toEqual([]);
    expect(splitter.openText).toBe('```js\nconst a = 1;\n\nconst b = 2;\n\nmore');
    splitter.feed('\n```\n\nDone.\n');
    expect(splitter.take().map(p => p.raw)).toEqual([
      '```js\nconst a = 1;\n\nconst b = 2;\n\nmore\n```\n\n'
    ]);
  });

  it('does not take ``` with a backtick in its info string for a fence', () => {
    const splitter = new Splitter();
    splitter.feed('```not a fence``` here\n\nNext.\n');
    expect(splitter.take().map(p => p.raw)).toEqual(['```not a fence``` here\n\n']);
  });

  it('cuts an over-long fence at a line, closing and re-opening it', () => {
    const code = Array.from({ length: 40 }, (_, i) => `line ${i}`).join('\n');
    const text = '```py\n' + code + '\n```\n';
    const pieces = split(text.split(/(?<=\n)/), { maxOpen: 120 });
    expect(pieces.length).toBeGreaterThan(2);
    expect(pieces.map(p => p.raw).join('')).toBe(text);
    for (const piece of pieces.slice(0, -1)) {
      expect(piece.render.startsWith('```py\n')).toBe(true);
      expect(piece.render.endsWith('```\n')).toBe(true);
    }
    expect(pieces[pieces.length - 1].render.startsWith('```py\n')).toBe(true);
  });

  it('cuts plain text at every line end', () => {
    const pieces = split(['a\nb', '\nc'], { markdown: false });
    expect(pieces.map(p => p.raw)).toEqual(['a\n', 'b\n', 'c']);
  });
});

describe('Markdown made ready for JupyterLab', () => {
  it('keeps dollars as money and $$ as math', () => {
    expect(prepareMarkdown('$5 and $10')).toBe('\\$5 and \\$10');
    expect(prepareMarkdown('Area: $$x^2$$ costs $3')).toBe('Area: $$x^2$$ costs \\$3');
    expect(prepareMarkdown('empty $$ $$ pair')).toBe('empty \\$\\$ \\$\\$ pair');
  });

  it('leaves code spans and fenced code as written', () => {
    expect(prepareMarkdown('run `echo $HOME` now')).toBe('run `echo $HOME` now');
    expect(prepareMarkdown('```sh\necho $PATH\nline\n```')).toBe('```sh\necho $PATH\nline\n```');
  });

  it('turns line ends inside a paragraph into hard breaks, but not before a list', () => {
    expect(prepareMarkdown('1 Main St\nSpringfield')).toBe('1 Main St  \nSpringfield');
    expect(prepareMarkdown('Items:\n- a\n- b')).toBe('Items:\n- a\n- b');
    expect(prepareMarkdown('Title\n===')).toBe('Title\n===');
  });

  it('defuses \\href and friends wherever they stand', () => {
    const zw = '\u200b';
    expect(prepareMarkdown('$$\\href{javascript:x}{y}$$')).toBe(`$$\\${zw}href{javascript:x}{y}$$`);
    expect(prepareMarkdown('\\(\\href{javascript:x}{y}\\)')).toBe(`\\(\\${zw}href{javascript:x}{y}\\)`);
    expect(prepareMarkdown('see \\style{color:red}{x}')).toBe(`see \\${zw}style{color:red}{x}`);
    expect(prepareMarkdown('\\\\href{javascript:x}')).toBe(`\\\\${zw}href{javascript:x}`);
    expect(prepareMarkdown('\\hrefs and \\url')).toBe(`\\hrefs and \\${zw}url`);
  });
});

describe('which links a model may keep', () => {
  it('allows web and mail URLs and fragments only', () => {
    for (const url of ['https://a.example/', 'http://a.example/x?y', 'mailto:a@b.example', '#top', ' https://a.example ']) {
      expect(isSafeUrl(url)).toBe(true);
    }
    for (const url of ['javascript:alert(1)', 'JAVASCRIPT:alert(1)', 'java\tscript:alert(1)', 'data:text/html,x', 'vbscript:x', 'file:///etc/passwd', '/lab/tree', 'relative.html', '']) {
      expect(isSafeUrl(url)).toBe(false);
    }
  });
});

describe('LiveRegistry', () => {
  it('keeps appends until their renderer listens, then hands them over in order', () => {
    const registry = new LiveRegistry();
    const got: string[] = [];
    registry.receive({ id: 'a', content: '1' });
    registry.receive({ id: 'a', content: '2' });
    registry.receive('not a message');
    registry.receive({ content: 'no id' });
    registry.receive(null);
    expect(registry.size).toBe(1);
    registry.listen('a', (m: ILiveAppend) => got.push(m.content!));
    registry.receive({ id: 'a', content: '3' });
    expect(got).toEqual(['1', '2', '3']);
    registry.end('a');
    expect(registry.size).toBe(0);
  });
});

describe('SortableTable', () => {
  it('puts blank cells last whichever way it sorts', () => {
    const table = new SortableTable();
    table.set(['n'], ['float64'], [[2], [null], [10], [''], [1]], null);
    const shown = () =>
      Array.from(table.node.querySelectorAll('tbody td')).map(td => td.textContent);
    table.sortBy(0);
    expect(shown()).toEqual(['1', '2', '10', '', '']);
    table.sortBy(0);
    expect(shown()).toEqual(['10', '2', '1', '', '']);
    expect(table.rowCount).toBe(5);
  });
});
