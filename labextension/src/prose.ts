/**
 * Model Markdown made ready for JupyterLab's Markdown renderer, which then sanitises it.
 *
 * Two ways a renderer misreads a chat answer, fixed before it sees the text (as the kernel's
 * `nemotron_magics/display/_math.py` does for the fallbacks):
 *
 * - money: JupyterLab typesets `$…$` as TeX, so "$5 and $10" would become italics. Only
 *   `$$…$$`, `\(…\)` and `\[…\]` are math; every other `$` becomes `\$`, which JupyterLab's
 *   math detection skips and marked shows as a plain dollar.
 * - line ends: a model writes an address or a poem one line per line; each line end inside a
 *   paragraph becomes a hard break.
 *
 * Also defused: the MathJax commands that can carry URLs, CSS or load code (`\href`, `\style`
 * …) get a zero-width space after the backslash. Code (fenced blocks and spans) is left as
 * written. Everything here is linear in the text.
 */

const FENCE = /^[ \t]{0,3}(`{3,}|~{3,})/;
const TEX_RISKY =
  /\\(?=(?:href|url|class|cssId|style|bbox|require|mmlToken|texttip|mathtip)(?![A-Za-z]))/g;
// The same, where an escape token starts: its backslash may begin one of those commands.
const TEX_RISKY_AT =
  /\\(?:href|url|class|cssId|style|bbox|require|mmlToken|texttip|mathtip)(?![A-Za-z])/y;
// In prose: a code span (kept), an escaped character (kept), `$$…$$` with something inside
// (math, kept), a lone `$` (money).
const PROSE = /(`+)[\s\S]*?[^`]\1(?!`)|\\[\s\S]|\$\$(?=[\s\S]*?\$\$)[\s\S]*?\$\$|\$/g;
const SOFT_BREAK =
  /(?<!\\)(?<! {2})\n(?![ \t]{0,3}(?:[-+*][ \t]|\d{1,9}[.)][ \t]|#{1,6}(?:[ \t]|$)|[=-]+[ \t]*$|\|))/gm;

/** One run of prose (no fenced code in it). */
function prose(text: string): string {
  let out = '';
  let at = 0;
  for (const match of text.matchAll(PROSE)) {
    const start = match.index ?? 0;
    out += breaks(text.slice(at, start));
    const token = match[0];
    if (token === '$') {
      out += '\\$';
    } else if (token.startsWith('$$') && !token.slice(2, -2).trim()) {
      out += '\\$\\$' + token.slice(2, -2) + '\\$\\$';
    } else if (token[0] === '\\') {
      // An escape is one backslash and one character, so `\href` would slip past TEX_RISKY
      // (which needs the whole name after the backslash): look at the text from here.
      if (token === '\\\\') {
        out += riskyAt(text, start + 1) ? token + '\u200b' : token;
      } else {
        out += riskyAt(text, start) ? '\\\u200b' + token.slice(1) : token;
      }
    } else {
      out += token.startsWith('`') ? token : token.replace(TEX_RISKY, '\\\u200b');
    }
    at = start + token.length;
  }
  return out + breaks(text.slice(at));
}

/** Whether one of the TEX_RISKY commands starts at `at`. */
function riskyAt(text: string, at: number): boolean {
  TEX_RISKY_AT.lastIndex = at;
  return TEX_RISKY_AT.test(text);
}

function breaks(text: string): string {
  return text.replace(TEX_RISKY, '\\\u200b').replace(SOFT_BREAK, '  \n');
}

/** Markdown as the model wrote it → the same Markdown, money and line ends kept, TeX defused. */
export function prepareMarkdown(text: string): string {
  if (!text) {
    return '';
  }
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const out: string[] = [];
  let run: string[] = [];
  let fence: string | null = null;
  const flush = () => {
    if (run.length) {
      out.push(prose(run.join('\n')));
      run = [];
    }
  };
  for (const line of lines) {
    const marker = FENCE.exec(line);
    if (fence === null && marker) {
      flush();
      fence = marker[1];
      out.push(line);
    } else if (fence !== null) {
      out.push(line);
      const trimmed = line.trim();
      if (
        marker &&
        trimmed[0] === fence[0] &&
        /^(`+|~+)$/.test(trimmed) &&
        trimmed.length >= fence.length
      ) {
        fence = null;
      }
    } else {
      run.push(line);
    }
  }
  flush();
  return out.join('\n');
}
