/**
 * The renderer as a reader meets it: saved bundles, hostile model output, and a cell that
 * streams through the `nemotron.live` comm.
 */

import { LiveRegistry } from '../live';
import { MarkdownView } from '../markdown';
import { ModelOutputSanitizer } from '../safe';
import type { ResponseRenderer } from '../renderer';
import { Sanitizer } from '@jupyterlab/apputils';
import {
  CountingParser,
  doc,
  liveDoc,
  makeRenderer,
  markdownParser,
  MIME_TYPE,
  model,
  RecordingTypesetter,
  rendered,
  toolCall,
  visible
} from './fixtures';

declare global {
  interface Window {
    __pwned?: unknown;
  }
}

/** The current answer (not an earlier round's). */
function answer(renderer: ResponseRenderer): HTMLElement {
  return renderer.node.querySelector<HTMLElement>(':scope > .nm-answer')!;
}

function markdownText(renderer: ResponseRenderer): string {
  return answer(renderer).querySelector('.nm-markdown')!.textContent ?? '';
}

afterEach(() => {
  document.body.replaceChildren();
});

describe('a saved bundle', () => {
  it('marks its root for the theme and for JupyterLab', async () => {
    const renderer = await rendered(doc({ content: 'Hello.' }));
    expect(renderer.node.classList.contains('jp-RenderedNemotron')).toBe(true);
    expect(renderer.node.getAttribute('data-mime-type')).toBe(
      'application/vnd.nemotron.response+json'
    );
    expect(renderer.node.dataset.done).toBe('true');
  });

  it('shows the reasoning in a collapsed panel whose summary says how long it thought', async () => {
    const renderer = await rendered(
      doc({
        reasoning: 'The user wants a greeting.',
        thinking: 'Thought for 3.2 s · 812 reasoning tokens',
        content: 'Hello!'
      })
    );
    const panel = renderer.node.querySelector('details.nm-thinking') as HTMLDetailsElement;
    expect(panel).not.toBeNull();
    expect(panel.hidden).toBe(false);
    expect(panel.open).toBe(false);
    expect(panel.querySelector('summary')!.textContent).toBe(
      'Thought for 3.2 s · 812 reasoning tokens'
    );
    expect(panel.querySelector('.nm-thinking-body')!.textContent).toBe(
      'The user wants a greeting.'
    );
  });

  it('keeps the thinking panel open while the model is still thinking', async () => {
    const renderer = await rendered(
      liveDoc('think-1', { reasoning: 'Let me see…', thinking: 'Thinking for 1.0 s' })
    );
    const panel = renderer.node.querySelector('details.nm-thinking') as HTMLDetailsElement;
    expect(panel.open).toBe(true);
    expect(panel.querySelector('summary')!.textContent).toBe('Thinking for 1.0 s');
  });

  it('hides the thinking panel when there was no reasoning', async () => {
    const renderer = await rendered(doc({ content: 'Just the answer.' }));
    expect(renderer.node.querySelector<HTMLElement>('.nm-thinking')!.hidden).toBe(true);
  });

  it('renders the answer as Markdown, with a copy button on it and on every code block', async () => {
    const renderer = await rendered(
      doc({
        content:
          '# Plan\n\nSome **bold** text.\n\n```python\nprint("hi")\n```\n\n- one\n- two\n\n```\nplain\n```\n'
      })
    );
    const box = answer(renderer);
    expect(box.hidden).toBe(false);
    expect(box.querySelector('h1')!.textContent).toContain('Plan');
    expect(box.querySelector('strong')!.textContent).toBe('bold');
    expect(box.querySelectorAll('li')).toHaveLength(2);
    const blocks = Array.from(box.querySelectorAll('.nm-markdown pre'));
    expect(blocks.map(pre => pre.textContent!.trim())).toEqual(['print("hi")', 'plain']);
    for (const pre of blocks) {
      const copy = pre.parentElement!.querySelector('button.nm-copy');
      expect(pre.parentElement!.classList.contains('nm-code')).toBe(true);
      expect(copy!.getAttribute('title')).toBe('Copy code');
    }
    const copyAnswer = box.querySelector(':scope > .nm-answer-bar > button.nm-copy');
    expect(copyAnswer!.getAttribute('title')).toBe('Copy the answer');
  });

  it('copies the answer as the model wrote it', async () => {
    const written: string[] = [];
    Object.defineProperty(navigator, 'clipboard', {
      configurable: true,
      value: { writeText: async (text: string) => void written.push(text) }
    });
    try {
      const renderer = await rendered(doc({ content: '**Bold** claim.' }));
      const button = answer(renderer).querySelector<HTMLButtonElement>('.nm-answer-bar button')!;
      button.click();
      await new Promise(resolve => setTimeout(resolve, 0));
      expect(written).toEqual(['**Bold** claim.']);
      expect(button.textContent).toBe('Copied');
    } finally {
      delete (navigator as { clipboard?: unknown }).clipboard;
    }
  });

  it('draws a tool card with its name, arguments, status, result and duration', async () => {
    const renderer = await rendered(
      doc({ content: 'It is mild.', tool_calls: [toolCall()] })
    );
    const card = renderer.node.querySelector<HTMLElement>('.nm-tools .nm-tool')!;
    expect(card.querySelector('.nm-tool-name')!.textContent).toBe('get_weather');
    expect(card.querySelector('.nm-tool-status')!.textContent).toBe('done');
    expect(card.querySelector('.nm-tool-status')!.classList.contains('nm-status-done')).toBe(true);
    expect(JSON.parse(card.querySelector('.nm-tool-args')!.textContent!)).toEqual({
      city: 'Paris'
    });
    expect(card.querySelector('.nm-tool-result')!.textContent).toBe('18 °C, clear');
    expect(card.querySelector('.nm-tool-duration')!.textContent).toBe('0.25 s');
    expect(card.classList.contains('nm-tool-failed')).toBe(false);
    expect(card.querySelector('.nm-approve')).toBeNull();
  });

  it('marks a failed tool call and shows what went wrong instead of a result', async () => {
    const renderer = await rendered(
      doc({
        tool_calls: [
          toolCall({ status: 'error', error: 'ValueError: no such city', result: null })
        ]
      })
    );
    const card = renderer.node.querySelector<HTMLElement>('.nm-tool')!;
    expect(card.classList.contains('nm-tool-failed')).toBe(true);
    expect(card.querySelector('.nm-tool-error')!.textContent).toBe('ValueError: no such city');
    expect(card.querySelector('.nm-tool-result')).toBeNull();
  });

  it('offers Approve and Deny for a call waiting for approval, typing into the input box', async () => {
    const area = document.createElement('div');
    area.className = 'jp-OutputArea';
    const input = document.createElement('input');
    input.className = 'jp-Stdin-input';
    const keys: string[] = [];
    input.addEventListener('keydown', event => keys.push(`${input.value}:${event.key}`));
    const renderer = makeRenderer();
    area.append(renderer.node, input);
    document.body.appendChild(area);
    await renderer.renderModel(
      model(
        liveDoc('approve-1', {
          tool_calls: [toolCall({ status: 'waiting for approval', result: null, duration: null })]
        })
      )
    );
    const approve = renderer.node.querySelector<HTMLButtonElement>('.nm-approve')!;
    const deny = renderer.node.querySelector<HTMLButtonElement>('.nm-deny')!;
    expect(approve.textContent).toBe('Approve');
    expect(deny.textContent).toBe('Deny');
    approve.click();
    expect(approve.disabled).toBe(true);
    expect(deny.disabled).toBe(true);
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(keys).toEqual(['y:Enter']);
    area.remove();
  });

  it('waits for the input box when a click comes before the question', async () => {
    const area = document.createElement('div');
    area.className = 'jp-OutputArea';
    const renderer = makeRenderer();
    area.append(renderer.node);
    document.body.appendChild(area);
    await renderer.renderModel(
      model(liveDoc('approve-3', { tool_calls: [toolCall({ status: 'waiting for approval' })] }))
    );
    renderer.node.querySelector<HTMLButtonElement>('.nm-deny')!.click();
    await new Promise(resolve => setTimeout(resolve, 200)); // the kernel's question arrives
    const input = document.createElement('input');
    input.className = 'jp-Stdin-input';
    const keys: string[] = [];
    input.addEventListener('keydown', event => keys.push(`${input.value}:${event.key}`));
    area.append(input);
    await new Promise(resolve => setTimeout(resolve, 200));
    expect(keys).toEqual(['n:Enter']);
    area.remove();
  });

  it('asks the reader to use the input box when the buttons cannot reach it', async () => {
    const renderer = await rendered(
      liveDoc('approve-2', { tool_calls: [toolCall({ status: 'waiting for approval' })] })
    );
    jest.useFakeTimers();
    try {
      const deny = renderer.node.querySelector<HTMLButtonElement>('.nm-deny')!;
      deny.click();
      await jest.advanceTimersByTimeAsync(6000);
      expect(renderer.node.querySelector('.nm-tool-approve-note')!.textContent).toBe(
        'Answer in the input box below.'
      );
      expect(deny.disabled).toBe(false);
    } finally {
      jest.useRealTimers();
    }
  });

  it('shows a schema answer as a table that sorts numerically by a click on a header', async () => {
    const renderer = await rendered(
      doc({
        format: 'schema',
        content: '[…]',
        answer: { text: '[…]', language: 'json' },
        structured: {
          schema: 'City',
          valid: true,
          validation_errors: [],
          repairs: [],
          shape: '3 rows × 2 columns',
          table: {
            columns: ['city', 'population'],
            dtypes: ['object', 'int64'],
            rows: [
              ['Paris', 2100000],
              ['Lyon', 520000],
              ['Berlin', 3700000]
            ],
            total_rows: 3
          }
        }
      })
    );
    const table = renderer.node.querySelector('table.nm-table')!;
    const column = (index: number) =>
      Array.from(table.querySelectorAll('tbody tr')).map(
        tr => tr.querySelectorAll('td')[index].textContent
      );
    expect(answer(renderer).hidden).toBe(true); // the table stands in for the JSON
    expect(Array.from(table.querySelectorAll('th .nm-dtype')).map(n => n.textContent)).toEqual([
      'object',
      'int64'
    ]);
    expect(renderer.node.querySelector('.nm-table-shape')!.textContent).toBe(
      '3 rows × 2 columns'
    );
    const [byCity, byPopulation] = Array.from(table.querySelectorAll<HTMLButtonElement>('th button'));
    byPopulation.click();
    expect(column(1)).toEqual(['520000', '2100000', '3700000']);
    expect(table.querySelectorAll('th')[1].getAttribute('aria-sort')).toBe('ascending');
    byPopulation.click();
    expect(column(1)).toEqual(['3700000', '2100000', '520000']);
    expect(table.querySelectorAll('th')[1].getAttribute('aria-sort')).toBe('descending');
    byCity.click();
    expect(column(0)).toEqual(['Berlin', 'Lyon', 'Paris']);
  });

  it('shows notes with their label, and the footer', async () => {
    const renderer = await rendered(
      doc({
        content: 'Partial answer',
        notes: [
          { kind: 'cutoff', text: 'the answer hit max_tokens.' },
          { kind: 'info', text: 'retried once.' }
        ],
        footer: ['openrouter', 'nemotron-nano', '1.2 s', '42 tok/s']
      })
    );
    const notes = Array.from(renderer.node.querySelectorAll('.nm-notes .nm-note'));
    expect(notes.map(n => n.textContent)).toEqual([
      'Cut off: the answer hit max_tokens.',
      'retried once.'
    ]);
    expect(notes[0].classList.contains('nm-note-cutoff')).toBe(true);
    expect(renderer.node.querySelector('.nm-footer')!.textContent).toBe(
      'openrouter · nemotron-nano · 1.2 s · 42 tok/s'
    );
  });

  it('shows a code answer highlighted in a code block once it is complete', async () => {
    const renderer = await rendered(
      doc({
        format: 'code',
        content: '```python\nx = 1\n```',
        answer: { text: 'x = 1', language: 'python' }
      })
    );
    const pre = answer(renderer).querySelector('.nm-markdown pre')!;
    expect(pre.textContent).toBe('x = 1');
    expect(pre.querySelector('code')!.className).toContain('language-python');
  });

  it('shows a text answer as preformatted text, not Markdown', async () => {
    const renderer = await rendered(doc({ format: 'text', content: '# not a heading' }));
    expect(visible(renderer.node, '.nm-plain')[0].textContent).toBe('# not a heading');
    expect(renderer.node.querySelector('h1')).toBeNull();
  });

  it('says so when the output is not a response, and recovers on the next one', async () => {
    const renderer = makeRenderer();
    await renderer.renderModel(model('nonsense' as never));
    expect(renderer.node.textContent).toBe('Not a Nemotron response.');
    await renderer.renderModel(model(doc({ content: 'Back.' })));
    expect(markdownText(renderer)).toContain('Back.');
    expect(renderer.node.querySelector('.nm-footer')).not.toBeNull();
  });
});

describe('model output that tries to run or load something', () => {
  const hostile = [
    '<script>window.__pwned = 1</script>',
    '<img src=x onerror="window.__pwned = 2">',
    '<img src="https://tracker.example/pixel.png?d=secret" alt="chart">',
    '![logo](https://tracker.example/logo.png)',
    '[plain](javascript:window.__pwned=3)',
    '[mixed](JaVaScRiPt:window.__pwned=4)',
    '<a href="java\u200bscript:window.__pwned=5">zero-width</a>',
    '<a href="java&shy;script:window.__pwned=6">soft hyphen</a>',
    '<a href="java\tscript:window.__pwned=7">tab</a>',
    '<a href="&#106;avascript:window.__pwned=8">entity</a>',
    '<a href="&#x6A;&#x61;vascript&#58;window.__pwned=9">hex entities</a>',
    '<a href=" javascript:window.__pwned=10">space</a>',
    '<iframe src="https://evil.example/"></iframe>',
    '<svg onload="window.__pwned = 11"><circle r="4"/></svg>',
    '<a href="data:text/html,<script>alert(1)</script>">data</a>',
    '<a href="https://example.org/page">web</a>',
    '<a href="mailto:someone@example.org">mail</a>',
    '<div onclick="window.__pwned = 12" onmouseover="window.__pwned = 13">hover</div>',
    '$$\\href{javascript:window.__pwned=14}{click}$$',
    '\\(\\href{javascript:window.__pwned=15}{click}\\)'
  ].join('\n\n');

  it('renders no script, image, frame or handler, and keeps only web, mail and fragment links', async () => {
    const typesetter = new RecordingTypesetter();
    const renderer = await rendered(doc({ content: hostile }), { latexTypesetter: typesetter });
    const node = renderer.node;
    expect(node.querySelectorAll('script, img, iframe, svg, object, embed')).toHaveLength(0);
    for (const element of Array.from(node.querySelectorAll('*'))) {
      for (const attribute of Array.from(element.attributes)) {
        expect(attribute.name.startsWith('on')).toBe(false);
      }
    }
    const hrefs = Array.from(node.querySelectorAll('[href]')).map(a => a.getAttribute('href')!);
    expect(hrefs.length).toBeGreaterThan(0);
    for (const href of hrefs) {
      expect(href).toMatch(/^(https?:|mailto:|#)/);
    }
    for (const a of Array.from(node.querySelectorAll<HTMLAnchorElement>('a[href^="http"], a[href^="mailto"]'))) {
      expect(a.target).toBe('_blank');
      expect(a.rel).toContain('noopener');
    }
    expect(window.__pwned).toBeUndefined();
  });

  it('turns images into links that say what they showed', async () => {
    const renderer = await rendered(
      doc({
        content:
          '<img src="https://tracker.example/pixel.png?d=secret" alt="chart">\n\n![logo](https://tracker.example/logo.png)\n\n<img src=x onerror="window.__pwned = 2">'
      })
    );
    const links = Array.from(renderer.node.querySelectorAll<HTMLAnchorElement>('.nm-markdown a'));
    expect(links.map(a => [a.textContent, a.getAttribute('href')])).toEqual([
      ['[image: chart]', 'https://tracker.example/pixel.png?d=secret'],
      ['[image: logo]', 'https://tracker.example/logo.png']
    ]);
    expect(markdownText(renderer)).toContain('[image: x]'); // a relative source: text only
    expect(renderer.node.querySelector('img')).toBeNull();
  });

  it('keeps the text of a javascript: link, as text that is no link', async () => {
    const renderer = await rendered(doc({ content: hostile }));
    const links = Array.from(renderer.node.querySelectorAll('.nm-answer a'));
    const text = renderer.node.querySelector('.nm-answer')!.textContent ?? '';
    for (const label of ['plain', 'mixed', 'zero-width', 'soft hyphen', 'tab', 'entity', 'hex entities', 'space', 'data']) {
      expect(text).toContain(label);
      expect(links.find(a => a.textContent === label)).toBeUndefined();
    }
    expect(links.every(a => a.hasAttribute('href'))).toBe(true);
    const web = links.find(a => a.textContent === 'web');
    expect(web!.getAttribute('href')).toBe('https://example.org/page');
  });

  it('defuses TeX commands that carry URLs, inside $$ and after \\( alike', async () => {
    const typesetter = new RecordingTypesetter();
    const renderer = await rendered(doc({ content: hostile }), { latexTypesetter: typesetter });
    const text = renderer.node.textContent ?? '';
    expect(text).not.toMatch(/\\href/); // every \href has a zero-width space after its backslash
    expect(text).toContain('\\\u200bhref{javascript:window.__pwned=14}');
    expect(text).toContain('\\\u200bhref{javascript:window.__pwned=15}');
    expect(typesetter.typeset_calls.length).toBeGreaterThan(0);
  });

  it('loads no video, audio, image button or styled background from the model', async () => {
    const renderer = await rendered(
      doc({
        content: [
          '<video src="https://tracker.example/v.mp4" poster="https://tracker.example/p.png"></video>',
          '<audio src="https://tracker.example/a.mp3"></audio>',
          '<input type="image" src="https://tracker.example/button.png">',
          '<span style="background-image: url(https://tracker.example/bg.png)">styled</span>',
          '<span style="color: red">red</span>'
        ].join('\n\n')
      })
    );
    const node = renderer.node;
    expect(node.querySelectorAll('video, audio, source, input')).toHaveLength(0);
    expect(node.innerHTML).not.toContain('url(');
    const links = Array.from(node.querySelectorAll('.nm-markdown a')).map(a => a.textContent);
    expect(links).toEqual([
      '[video: https://tracker.example/v.mp4]',
      '[audio: https://tracker.example/a.mp3]',
      '[image: https://tracker.example/button.png]'
    ]);
    expect(node.querySelector<HTMLElement>('span[style]')!.style.color).toBe('red');
  });

  it('shows "$5 and $10" as money, with nothing typeset', async () => {
    const typesetter = new RecordingTypesetter();
    const renderer = await rendered(doc({ content: 'It costs $5 and $10 with tax.' }), {
      latexTypesetter: typesetter
    });
    expect(markdownText(renderer)).toContain('It costs $5 and $10 with tax.');
    expect(renderer.node.querySelector('em, i')).toBeNull();
    expect(typesetter.typeset_calls).toEqual([]);
  });

  it('typesets a block that has $$ math in it', async () => {
    const typesetter = new RecordingTypesetter();
    await rendered(doc({ content: 'Energy:\n\n$$E = mc^2$$' }), { latexTypesetter: typesetter });
    expect(typesetter.typeset_calls.some(text => text.includes('$$E = mc^2$$'))).toBe(true);
  });

  it('sanitises through JupyterLab, then drops what JupyterLab would keep', () => {
    const sanitizer = new ModelOutputSanitizer(new Sanitizer());
    expect(sanitizer.allowNamedProperties).toBe(false);
    const html = sanitizer.sanitize('<p><img src="https://a.example/i.png" alt="x"><a href="vbscript:x">v</a></p>');
    expect(html).toBe(
      '<p><a href="https://a.example/i.png" target="_blank" rel="noopener noreferrer nofollow">[image: x]</a>v</p>'
    );
  });
});

describe('a cell that streams', () => {
  it('grows the answer in place: a finished block keeps its element and is rendered once', async () => {
    const registry = new LiveRegistry();
    const parser = new CountingParser();
    const renderer = makeRenderer({ registry, parser });
    await renderer.renderModel(model(liveDoc('grow')));
    expect(renderer.node.dataset.done).toBe('false');
    expect(renderer.node.querySelector('.nm-status')!.textContent).toBe(
      'waiting for the first token…'
    );

    registry.receive({ id: 'grow', content: '# Ti' });
    registry.receive({ id: 'grow', content: 'tle\n\nFirst para' });
    registry.receive({ id: 'grow', content: 'graph.\n\n' });
    await renderer.idle;
    const h1 = renderer.node.querySelector('h1');
    expect(h1!.textContent).toContain('Title');
    expect(h1!.closest('.nm-block')).not.toBeNull(); // finished: frozen
    const titleRenders = parser.count('# Title');

    for (const word of ['Second ', 'paragraph ', 'grows.\n\n', '- a\n', '- b\n']) {
      registry.receive({ id: 'grow', content: word });
      await renderer.idle;
      expect(renderer.node.querySelector('h1')).toBe(h1);
    }
    expect(parser.count('# Title')).toBe(titleRenders);

    const final = '# Title\n\nFirst paragraph.\n\nSecond paragraph grows.\n\n- a\n- b\n';
    await renderer.renderModel(model(doc({ content: final })));
    expect(renderer.node.querySelector('h1')).toBe(h1);
    expect(parser.count('# Title')).toBe(titleRenders);
    expect(renderer.node.dataset.done).toBe('true');
    expect(renderer.node.querySelector<HTMLElement>('.nm-status')!.hidden).toBe(true);
    expect(answer(renderer).querySelectorAll('h1')).toHaveLength(1);
    expect(answer(renderer).querySelectorAll('li')).toHaveLength(2);
    expect(registry.size).toBe(0); // the final bundle ended the live id
  });

  it('applies appends that came before the renderer listened, in order', async () => {
    const registry = new LiveRegistry();
    registry.receive({ id: 'early', reasoning: 'Thinking ' });
    registry.receive({ id: 'early', reasoning: 'hard.' });
    registry.receive({ id: 'early', content: 'one, ' });
    registry.receive({ id: 'early', content: 'two, ' });
    registry.receive({ id: 'early', content: 'three.' });
    registry.receive({ id: 'other', content: 'not ours' });
    const renderer = await rendered(liveDoc('early'), { registry });
    expect(markdownText(renderer)).toContain('one, two, three.');
    expect(markdownText(renderer)).not.toContain('not ours');
    expect(renderer.node.querySelector('.nm-thinking-body')!.textContent).toBe('Thinking hard.');
    // Answering: the panel folds away by itself.
    expect((renderer.node.querySelector('details.nm-thinking') as HTMLDetailsElement).open).toBe(
      false
    );
  });

  it('draws a round that came before the renderer listened once, above the new answer', async () => {
    const registry = new LiveRegistry();
    registry.receive({ id: 'early-round', content: 'Looking it up.' });
    registry.receive({
      id: 'early-round',
      round: { reasoning: '', content: 'Looking it up.', tool_calls: [toolCall()], usage: null }
    });
    registry.receive({ id: 'early-round', content: 'Found it.' });
    const renderer = await rendered(liveDoc('early-round'), { registry });
    expect(renderer.node.querySelectorAll('.nm-round')).toHaveLength(1);
    expect(markdownText(renderer).trim()).toBe('Found it.');
  });

  it('shows no append twice when the final bundle arrives before the appends are drawn', async () => {
    const registry = new LiveRegistry();
    const renderer = makeRenderer({ registry });
    await renderer.renderModel(model(liveDoc('race')));
    registry.receive({ id: 'race', round: { reasoning: '', content: 'Let me look.', tool_calls: [toolCall()], usage: null } });
    registry.receive({ id: 'race', content: 'Alpha ' });
    registry.receive({ id: 'race', content: 'beta.' });
    // No waiting: the final bundle comes in while the round is still being drawn.
    await renderer.renderModel(
      model(
        doc({
          content: 'Alpha beta.',
          rounds: [{ reasoning: '', content: 'Let me look.', tool_calls: [toolCall()], usage: null }]
        })
      )
    );
    await renderer.idle;
    expect(markdownText(renderer).trim()).toBe('Alpha beta.');
    expect(renderer.node.querySelectorAll('.nm-round')).toHaveLength(1);
  });

  it('grows a table row by row, and keeps it for the final bundle', async () => {
    const registry = new LiveRegistry();
    const renderer = await rendered(liveDoc('rows', { format: 'schema' }), { registry });
    registry.receive({ id: 'rows', rows: { columns: ['name', 'age'], append: [['Ada', '36']] } });
    registry.receive({
      id: 'rows',
      rows: { columns: ['name', 'age'], append: [['Alan', '41'], ['Grace', '9']] }
    });
    await renderer.idle;
    const table = renderer.node.querySelector('table.nm-table')!;
    const rows = () =>
      Array.from(table.querySelectorAll('tbody tr')).map(tr =>
        Array.from(tr.querySelectorAll('td')).map(td => td.textContent)
      );
    expect(Array.from(table.querySelectorAll('th button')).map(b => b.textContent)).toEqual([
      'name',
      'age'
    ]);
    expect(rows()).toEqual([
      ['Ada', '36'],
      ['Alan', '41'],
      ['Grace', '9']
    ]);
    expect(renderer.node.querySelector('.nm-table-shape')!.textContent).toBe('3 rows so far…');
    // Numbers as text still sort as numbers.
    table.querySelectorAll<HTMLButtonElement>('th button')[1].click();
    expect(rows().map(r => r[1])).toEqual(['9', '36', '41']);

    await renderer.renderModel(
      model(
        doc({
          format: 'schema',
          content: '[]',
          answer: { text: '[]', language: 'json' },
          structured: {
            schema: 'Person',
            valid: true,
            validation_errors: [],
            repairs: ['dropped a trailing comma'],
            shape: '3 rows × 2 columns',
            table: {
              columns: ['name', 'age'],
              dtypes: ['object', 'int64'],
              rows: [['Ada', 36], ['Alan', 41], ['Grace', 9]],
              total_rows: 3
            }
          }
        })
      )
    );
    expect(renderer.node.querySelector('table.nm-table')).toBe(table);
    expect(rows().map(r => r[1])).toEqual(['9', '36', '41']); // the reader's sort stays
    expect(renderer.node.querySelector('.nm-note-info')!.textContent).toBe(
      'Repaired: dropped a trailing comma'
    );
  });

  it('draws a finished tool-loop round above and starts the next answer empty', async () => {
    const registry = new LiveRegistry();
    const renderer = await rendered(liveDoc('loop'), { registry });
    registry.receive({ id: 'loop', reasoning: 'I need the weather.' });
    registry.receive({
      id: 'loop',
      content: 'Checking the weather.',
      set: { tool_calls: [toolCall({ status: 'running', result: null, duration: null })] }
    });
    await renderer.idle;
    expect(renderer.node.querySelectorAll('.nm-tools .nm-tool')).toHaveLength(1);

    registry.receive({
      id: 'loop',
      round: {
        reasoning: 'I need the weather.',
        thinking: 'Thought for 0.5 s',
        content: 'Checking the weather.',
        tool_calls: [toolCall()],
        usage: null
      }
    });
    registry.receive({ id: 'loop', content: 'It is 18 °C in Paris.' });
    await renderer.idle;

    const rounds = renderer.node.querySelectorAll('.nm-rounds .nm-round');
    expect(rounds).toHaveLength(1);
    expect(rounds[0].querySelector('.nm-answer')!.textContent).toContain('Checking the weather.');
    expect(rounds[0].querySelector('.nm-tool-result')!.textContent).toBe('18 °C, clear');
    expect(rounds[0].querySelector('summary')!.textContent).toBe('Thought for 0.5 s');
    expect(markdownText(renderer).trim()).toBe('It is 18 °C in Paris.');
    expect(renderer.node.querySelectorAll('.nm-tools .nm-tool')).toHaveLength(0);
    expect(renderer.node.querySelector<HTMLElement>(':scope > .nm-thinking')!.hidden).toBe(true);
  });

  it('updates the status, thinking summary, footer, notes and tool cards from set messages', async () => {
    const registry = new LiveRegistry();
    const renderer = await rendered(liveDoc('set', { reasoning: 'Hmm.' }), { registry });
    registry.receive({
      id: 'set',
      set: {
        status: 'openrouter · streaming…',
        thinking: 'Thinking for 2.0 s',
        footer: ['openrouter', '2.0 s'],
        notes: [{ kind: 'info', text: 'retrying in 1 s' }],
        tool_calls: [toolCall({ status: 'waiting for approval', result: null })]
      }
    });
    await renderer.idle;
    const status = renderer.node.querySelector<HTMLElement>('.nm-status')!;
    expect(status.textContent).toBe('openrouter · streaming…');
    expect(status.hidden).toBe(false);
    expect(renderer.node.querySelector('.nm-thinking summary')!.textContent).toBe(
      'Thinking for 2.0 s'
    );
    expect(renderer.node.querySelector('.nm-footer')!.textContent).toBe('openrouter · 2.0 s');
    expect(renderer.node.querySelector('.nm-notes')!.textContent).toBe('retrying in 1 s');
    expect(renderer.node.querySelector('.nm-tool')!.getAttribute('data-status')).toBe(
      'waiting for approval'
    );
    expect(renderer.node.querySelector('.nm-approve')).not.toBeNull();

    registry.receive({ id: 'set', set: { tool_calls: [toolCall()] } });
    await renderer.idle;
    expect(renderer.node.querySelector('.nm-approve')).toBeNull();
    expect(renderer.node.querySelector('.nm-tool-status')!.textContent).toBe('done');
  });

  it('leaves the thinking panel as the reader set it', async () => {
    const registry = new LiveRegistry();
    const renderer = await rendered(liveDoc('chosen', { reasoning: 'Step one.' }), { registry });
    const panel = renderer.node.querySelector('details.nm-thinking') as HTMLDetailsElement;
    expect(panel.open).toBe(true);
    panel.querySelector('summary')!.click(); // the reader closes it while it thinks
    panel.open = false;
    registry.receive({ id: 'chosen', reasoning: ' Step two.' });
    await renderer.idle;
    expect(panel.open).toBe(false);
  });

  it('stops listening once disposed', async () => {
    const registry = new LiveRegistry();
    const renderer = await rendered(liveDoc('gone'), { registry });
    expect(registry.size).toBe(1);
    renderer.dispose();
    expect(registry.size).toBe(0);
  });
});

describe('MarkdownView', () => {
  const tools = () => ({
    sanitizer: new ModelOutputSanitizer(new Sanitizer()),
    resolver: null,
    linkHandler: null,
    latexTypesetter: null,
    markdownParser: markdownParser()
  });

  it('shows the new text when reset right after an append', async () => {
    const view = new MarkdownView(tools());
    void view.append('Old text that is replaced');
    await view.reset('# New\n\nBody', true);
    await view.idle;
    expect(view.node.textContent).toContain('New');
    expect(view.node.textContent).not.toContain('Old text');
    expect(view.node.querySelector('h1')).not.toBeNull();
  });

  it('renders each finished block once however the text is split', async () => {
    const view = new MarkdownView(tools());
    const text = 'One.\n\nTwo.\n\nThree.\n';
    for (const char of text) {
      await view.append(char);
    }
    await view.finish();
    expect(Array.from(view.node.querySelectorAll('.nm-block')).map(b => b.textContent!.trim())).toEqual([
      'One.',
      'Two.',
      'Three.'
    ]);
  });
});

it('uses the MIME type the kernel writes', () => {
  expect(MIME_TYPE).toBe('application/vnd.nemotron.response+json');
});
