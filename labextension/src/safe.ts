/**
 * JupyterLab's sanitiser, then two things it lets through that model output must not have.
 *
 * The application's sanitiser (sanitize-html with JupyterLab's allow-list) removes scripts,
 * event handlers and script URLs. After it, on the already-clean HTML, parsed in a document
 * that loads nothing:
 *
 * - images become links: a loaded image tells its server that the answer was read, and
 *   whatever the model put in its URL (a prompt-injected page can make it put your data there);
 *   so do the other things that load by themselves: video, audio, image buttons, and styles
 *   that fetch a background;
 * - a link stays a link only if it goes to a web or mail URL (or a fragment of this page);
 *   any other keeps its text and is no longer a link.
 */

import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';

const SAFE_SCHEMES = new Set(['http:', 'https:', 'mailto:']);
/** What `sanitize` has to look at: links, and what would load without a click. */
const LOADS_OR_LINKS =
  /<(img|a|input|video|audio|source|track|picture)\b|\s(style|srcset|poster|background)\s*=/i;
/** A style that can fetch (a URL, an image set, a CSS escape that could spell either). */
const FETCHING_STYLE = /url\s*\(|image-set\s*\(|image\s*\(|expression\s*\(|\\/i;

/** Whether `href` is a web or mail URL, or a fragment of this page. */
export function isSafeUrl(href: string): boolean {
  const trimmed = href.trim();
  if (trimmed.startsWith('#')) {
    return true;
  }
  try {
    return SAFE_SCHEMES.has(new URL(trimmed).protocol);
  } catch {
    return false; // relative URLs would resolve against the lab's own server: not model links
  }
}

export class ModelOutputSanitizer implements IRenderMime.ISanitizer {
  constructor(private readonly _base: IRenderMime.ISanitizer) {}

  get allowNamedProperties(): boolean {
    return false;
  }

  getAutolink(): boolean {
    return this._base.getAutolink?.() ?? true;
  }

  sanitize(dirty: string, options?: IRenderMime.ISanitizerOptions): string {
    const clean = this._base.sanitize(dirty, options);
    if (!LOADS_OR_LINKS.test(clean)) {
      return clean;
    }
    const doc = new DOMParser().parseFromString(`<body>${clean}</body>`, 'text/html');
    for (const img of Array.from(doc.body.querySelectorAll('img, input'))) {
      if (img.localName === 'input' && img.getAttribute('type')?.trim().toLowerCase() !== 'image') {
        continue;
      }
      const src = img.getAttribute('src') ?? '';
      const alt = img.getAttribute('alt') || src || 'no source';
      img.replaceWith(mediaLink(doc, src, `[image: ${alt}]`));
    }
    for (const media of Array.from(doc.body.querySelectorAll('video, audio'))) {
      const src =
        media.getAttribute('src') ??
        media.querySelector('source[src]')?.getAttribute('src') ??
        '';
      media.replaceWith(mediaLink(doc, src, `[${media.localName}: ${src || 'no source'}]`));
    }
    for (const node of Array.from(doc.body.querySelectorAll('source, track'))) {
      node.remove(); // a picture's other sources: its image stands for it now
    }
    for (const styled of Array.from(doc.body.querySelectorAll('[style]'))) {
      if (FETCHING_STYLE.test(styled.getAttribute('style')!)) {
        styled.removeAttribute('style'); // a background from the model's server
      }
    }
    for (const node of Array.from(doc.body.querySelectorAll('[srcset], [poster], [background]'))) {
      node.removeAttribute('srcset');
      node.removeAttribute('poster');
      node.removeAttribute('background');
    }
    for (const a of Array.from(doc.body.querySelectorAll('a'))) {
      const href = a.getAttribute('href');
      if (href === null || !isSafeUrl(href)) {
        // Its text only: an anchor that goes nowhere must not look like a link to click.
        a.replaceWith(...Array.from(a.childNodes));
        continue;
      }
      if (!href.trim().startsWith('#')) {
        a.setAttribute('target', '_blank');
        a.setAttribute('rel', 'noopener noreferrer nofollow');
      }
    }
    return doc.body.innerHTML;
  }
}

/** A link to what would have loaded (a web URL), or just its label. */
function mediaLink(doc: Document, src: string, label: string): HTMLElement {
  const link = doc.createElement(isSafeUrl(src) ? 'a' : 'span');
  if (link instanceof HTMLAnchorElement) {
    link.href = src;
  }
  link.textContent = label;
  return link;
}
