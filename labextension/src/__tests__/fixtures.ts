/**
 * What the tests share: saved bundles as the kernel writes them, and a renderer built from
 * JupyterLab's real parts (its sanitiser, its marked parser with a language registry).
 */

import { Sanitizer } from '@jupyterlab/apputils';
import { EditorLanguageRegistry } from '@jupyterlab/codemirror';
import { createMarkdownParser } from '@jupyterlab/markedparser-extension';
import { MimeModel } from '@jupyterlab/rendermime';
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';

import { LiveRegistry } from '../live';
import { ResponseRenderer } from '../renderer';
import { IResponseDoc, IToolCall, MIME_TYPE } from '../types';

export { MIME_TYPE };

let parser: IRenderMime.IMarkdownParser | null = null;

/** JupyterLab's Markdown parser (marked, with code highlighting through the registry). */
export function markdownParser(): IRenderMime.IMarkdownParser {
  if (parser === null) {
    const languages = new EditorLanguageRegistry();
    for (const language of EditorLanguageRegistry.getDefaultLanguages()) {
      languages.addLanguage(language);
    }
    parser = createMarkdownParser(languages);
  }
  return parser;
}

/** A stand-in typesetter that records what it was asked to typeset. */
export class RecordingTypesetter implements IRenderMime.ILatexTypesetter {
  readonly typeset_calls: string[] = [];
  typeset(element: HTMLElement): void {
    this.typeset_calls.push(element.textContent ?? '');
  }
}

/** JupyterLab's parser, counting what it is asked to render. */
export class CountingParser implements IRenderMime.IMarkdownParser {
  readonly sources: string[] = [];
  render(source: string): Promise<string> {
    this.sources.push(source);
    return markdownParser().render(source);
  }
  /** How many renders had `text` in their source. */
  count(text: string): number {
    return this.sources.filter(source => source.includes(text)).length;
  }
}

export interface IRendererParts {
  registry?: LiveRegistry;
  latexTypesetter?: IRenderMime.ILatexTypesetter | null;
  parser?: IRenderMime.IMarkdownParser;
}

export function rendererOptions(parts: IRendererParts = {}): IRenderMime.IRendererOptions {
  return {
    mimeType: MIME_TYPE,
    sanitizer: new Sanitizer(),
    resolver: null,
    linkHandler: null,
    latexTypesetter: parts.latexTypesetter ?? null,
    markdownParser: parts.parser ?? markdownParser()
  };
}

/** A renderer attached to the document, as JupyterLab would have it. */
export function makeRenderer(parts: IRendererParts = {}): ResponseRenderer {
  const renderer = new ResponseRenderer(
    rendererOptions(parts),
    parts.registry ?? new LiveRegistry()
  );
  document.body.appendChild(renderer.node);
  return renderer;
}

/** A finished response document with the fields the kernel always writes. */
export function doc(fields: Partial<IResponseDoc> = {}): IResponseDoc {
  return {
    version: 1,
    format: 'markdown',
    provider: 'openrouter',
    model: 'nvidia/nemotron-nano-9b-v2',
    content: '',
    reasoning: '',
    tool_calls: [],
    usage: null,
    timings: {},
    tokens_per_second: null,
    finish_reason: 'stop',
    done: true,
    error: null,
    footer: [],
    notes: [],
    rounds: [],
    ...fields
  };
}

export function model(document: IResponseDoc): MimeModel {
  return new MimeModel({
    data: { [MIME_TYPE]: document as unknown as IRenderMime.IMimeModel['data'][string] }
  });
}

/** Render `document` with a fresh renderer and wait until it is on screen. */
export async function rendered(
  document: IResponseDoc,
  parts: IRendererParts = {}
): Promise<ResponseRenderer> {
  const renderer = makeRenderer(parts);
  await renderer.renderModel(model(document));
  return renderer;
}

export function toolCall(fields: Partial<IToolCall> = {}): IToolCall {
  return {
    index: 0,
    id: 'call_1',
    name: 'get_weather',
    arguments_text: '{"city": "Paris"}',
    arguments: { city: 'Paris' },
    error: null,
    status: 'done',
    result: '18 °C, clear',
    duration: 0.25,
    ...fields
  };
}

/** A document as the kernel shows it first while the cell streams. */
export function liveDoc(id: string, fields: Partial<IResponseDoc> = {}): IResponseDoc {
  return doc({ done: false, finish_reason: null, live: { id }, ...fields });
}

/** The visible part of the renderer: what a reader sees (hidden parts left out). */
export function visible(node: HTMLElement, selector: string): HTMLElement[] {
  return Array.from(node.querySelectorAll<HTMLElement>(selector)).filter(
    element => !element.closest('[hidden]')
  );
}
