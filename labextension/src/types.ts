/**
 * The `application/vnd.nemotron.response+json` document, as
 * `nemotron_magics/display/response.schema.json` defines it, and the appends
 * that the kernel sends on the `nemotron.live` comm while a cell streams.
 *
 * Every string in here may come from the model: untrusted.
 */

export const MIME_TYPE = 'application/vnd.nemotron.response+json';
export const COMM_TARGET = 'nemotron.live';

export type Format = 'markdown' | 'text' | 'json' | 'code' | 'schema';

export interface IUsage {
  prompt_tokens: number | null;
  completion_tokens: number | null;
  reasoning_tokens: number | null;
  cached_tokens: number | null;
  cost: number | null;
  cost_is_estimate: boolean;
}

export interface IToolCall {
  index: number;
  id: string | null;
  name: string;
  arguments_text: string;
  arguments: Record<string, unknown> | null;
  error: string | null;
  status: string;
  result: string | null;
  duration: number | null;
}

export interface INote {
  kind: 'info' | 'cutoff' | 'stopped' | 'error';
  text: string;
}

export interface IRound {
  reasoning: string;
  thinking?: string;
  content: string;
  tool_calls: IToolCall[];
  usage: IUsage | null;
}

export interface ITable {
  columns: string[];
  dtypes: string[];
  rows: unknown[][];
  total_rows: number;
}

export interface IStructured {
  schema: string | null;
  valid: boolean;
  validation_errors: string[];
  repairs: string[];
  table: ITable | null;
  shape: string | null;
}

export interface IResponseDoc {
  version: number;
  format: Format;
  provider: string;
  model: string;
  content: string;
  reasoning: string;
  thinking?: string;
  tool_calls: IToolCall[];
  usage: IUsage | null;
  timings: Record<string, number | null>;
  tokens_per_second: number | null;
  finish_reason: string | null;
  done: boolean;
  error: string | null;
  footer: string[];
  notes: INote[];
  rounds: IRound[];
  answer?: { text: string; language: string | null };
  data?: unknown;
  data_error?: string;
  structured?: IStructured;
  live?: { id: string };
}

/** One message on the comm: only what changed since the last one. */
export interface ILiveAppend {
  id: string;
  content?: string;
  reasoning?: string;
  rows?: { columns: string[]; append: string[][] };
  set?: {
    status?: string;
    thinking?: string;
    footer?: string[];
    tool_calls?: IToolCall[];
    notes?: INote[];
  };
  round?: IRound;
}
