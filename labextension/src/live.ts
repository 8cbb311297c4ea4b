/**
 * Appends from the kernel, kept per live id until the renderer of that output takes them.
 *
 * The kernel displays the output first and then sends appends on the comm; the renderer may
 * be created a little later (rendering is asynchronous), so appends wait here and are handed
 * over in order. The final bundle ends a live id.
 */

import type { ILiveAppend } from './types';

type Listener = (message: ILiveAppend) => void;

interface IState {
  waiting: ILiveAppend[];
  listener: Listener | null;
}

export class LiveRegistry {
  /** A message from the comm. */
  receive(message: unknown): void {
    if (!message || typeof message !== 'object') {
      return;
    }
    const append = message as ILiveAppend;
    if (typeof append.id !== 'string') {
      return;
    }
    const state = this._state(append.id);
    if (state.listener) {
      state.listener(append);
    } else {
      state.waiting.push(append);
    }
  }

  /** The renderer of live output `id` takes its appends (those that waited first). */
  listen(id: string, listener: Listener): void {
    const state = this._state(id);
    state.listener = listener;
    const waiting = state.waiting;
    state.waiting = [];
    waiting.forEach(listener);
  }

  /** The output is final (or gone): forget it. */
  end(id: string): void {
    this._states.delete(id);
  }

  get size(): number {
    return this._states.size;
  }

  private _state(id: string): IState {
    let state = this._states.get(id);
    if (!state) {
      state = { waiting: [], listener: null };
      this._states.set(id, state);
    }
    return state;
  }

  private readonly _states = new Map<string, IState>();
}
