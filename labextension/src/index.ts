/**
 * nemotron-magics for JupyterLab 4 and Notebook 7:
 *
 * - a renderer for `application/vnd.nemotron.response+json` (reasoning, answer, tool cards,
 *   tables, footer), live while the cell streams;
 * - the `nemotron.live` comm, over which the kernel sends appends instead of re-sent HTML;
 * - `%%nemotron` cells highlighted as Markdown with a badge, and a command (palette and
 *   notebook toolbar) that inserts one.
 */

import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, ToolbarButton } from '@jupyterlab/apputils';
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import type { Kernel, KernelMessage } from '@jupyterlab/services';
import type { IDisposable } from '@lumino/disposable';

import { decorateNotebooks } from './cells';
import { LiveRegistry } from './live';
import { ResponseRenderer } from './renderer';
import { COMM_TARGET, MIME_TYPE } from './types';

export { LiveRegistry } from './live';
export { ResponseRenderer } from './renderer';
export { MIME_TYPE } from './types';

/** What we answer the kernel: the live protocol we speak (response.schema.json's version). */
const HELLO = { renderer: 1 };
const INSERT = 'nemotron:insert-cell';
/** Before the HTML (50) and Markdown (60) fallbacks of the same output. */
const RANK = 20;

function listen(comm: Kernel.IComm, registry: LiveRegistry): void {
  comm.onMsg = (msg: KernelMessage.ICommMsgMsg) => registry.receive(msg.content.data);
}

/** Take the kernel's appends: answer its comm, or open ours if it opened one before this page. */
function connect(
  kernel: Kernel.IKernelConnection,
  registry: LiveRegistry,
  seen: WeakSet<Kernel.IKernelConnection>
): void {
  if (seen.has(kernel)) {
    return;
  }
  seen.add(kernel);
  kernel.registerCommTarget(COMM_TARGET, comm => {
    listen(comm, registry);
    comm.send(HELLO);
  });
  void kernel.info
    .then(() => kernel.requestCommInfo({ target_name: COMM_TARGET }))
    .then(reply => {
      const content = reply.content;
      if (content.status !== 'ok') {
        return;
      }
      const ids = Object.keys(content.comms);
      // A comm the kernel opened to this page is answered already; one to a page that is gone
      // (this one, reloaded) means the kernel has the extension loaded: open ours.
      if (ids.length && !ids.some(id => kernel.hasComm(id))) {
        const comm = kernel.createComm(COMM_TARGET);
        listen(comm, registry);
        comm.open(HELLO);
      }
    })
    .catch(() => undefined); // a kernel that died meanwhile: its next start connects again
}

function insertCell(tracker: INotebookTracker): void {
  const panel = tracker.currentWidget;
  if (!panel) {
    return;
  }
  const notebook = panel.content;
  NotebookActions.insertBelow(notebook);
  NotebookActions.changeCellType(notebook, 'code');
  const cell = notebook.activeCell;
  if (cell) {
    cell.model.sharedModel.setSource('%%nemotron\n');
    notebook.mode = 'edit';
    cell.editor?.setCursorPosition({ line: 1, column: 0 });
    cell.editor?.focus();
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nemotron-magics:plugin',
  description: 'Renders Nemotron responses live, and gives %%nemotron cells a home.',
  autoStart: true,
  requires: [IRenderMimeRegistry],
  optional: [INotebookTracker, ICommandPalette, IEditorLanguageRegistry],
  activate: (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    tracker: INotebookTracker | null,
    palette: ICommandPalette | null,
    languages: IEditorLanguageRegistry | null
  ) => {
    const registry = new LiveRegistry();
    rendermime.addFactory(
      {
        // Safe: the renderer treats every document as untrusted (it has no trusted mode), so
        // it may render outputs of notebooks the user has not trusted, as saved ones are.
        safe: true,
        mimeTypes: [MIME_TYPE],
        defaultRank: RANK,
        createRenderer: options => new ResponseRenderer(options, registry)
      },
      RANK
    );
    if (!tracker) {
      return;
    }
    const seen = new WeakSet<Kernel.IKernelConnection>();
    const follow = (panel: NotebookPanel) => {
      const session = panel.sessionContext;
      const hook = () => {
        const kernel = session.session?.kernel;
        if (kernel) {
          connect(kernel, registry, seen);
        }
      };
      session.kernelChanged.connect(hook);
      void session.ready.then(hook);
    };
    tracker.widgetAdded.connect((_, panel) => follow(panel));
    tracker.forEach(follow);
    decorateNotebooks(tracker, languages);

    app.commands.addCommand(INSERT, {
      label: 'Insert %%nemotron Cell',
      caption: 'Insert a %%nemotron cell below the active cell',
      isEnabled: () => tracker.currentWidget !== null,
      execute: () => insertCell(tracker)
    });
    palette?.addItem({ command: INSERT, category: 'Nemotron' });
    app.docRegistry.addWidgetExtension('Notebook', {
      createNew: (panel: NotebookPanel): IDisposable => {
        const button = new ToolbarButton({
          className: 'nm-insert-button',
          label: 'Nemotron',
          tooltip: 'Insert a %%nemotron cell below',
          onClick: () => {
            void app.commands.execute(INSERT);
          }
        });
        panel.toolbar.insertItem(10, 'nemotronInsert', button);
        return button;
      }
    });
  }
};

export default plugin;
