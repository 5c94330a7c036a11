/**
 * Progress on stderr: a bar redrawn in place (step, loss, tokens/s, ETA) when stderr is a
 * terminal, plain lines otherwise (logs, CI).
 */
export interface ProgressInfo {
  step: number;
  total: number;
  loss: number;
  tokensPerSec: number;
  elapsed: number;
}

const fmtTime = (s: number) => {
  if (!Number.isFinite(s)) return "--:--";
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
};

export class Progress {
  readonly #tty: boolean;
  #drawn = false;

  constructor(
    readonly stream: NodeJS.WriteStream = process.stderr,
    readonly quiet = false,
  ) {
    this.#tty = Boolean(stream.isTTY);
  }

  /** Redraw the bar (terminal) or, on `log` steps only, print a line. */
  update(p: ProgressInfo, startStep: number, log: boolean): void {
    if (this.quiet || (!this.#tty && !log)) return;
    const done = p.step - startStep;
    const eta = done > 0 ? ((p.total - p.step) * p.elapsed) / done : Number.NaN;
    const text = `step ${p.step}/${p.total}  loss ${p.loss.toFixed(4)}  ${Math.round(p.tokensPerSec)} tok/s  ETA ${fmtTime(eta)}`;
    if (this.#tty) {
      const width = 24;
      const filled = Math.round((width * p.step) / p.total);
      this.stream.write(`\r[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${text}\x1b[K`);
      this.#drawn = true;
    } else this.stream.write(`${text}\n`);
  }

  /** A message on its own line (the bar is redrawn on the next update). */
  log(message: string): void {
    if (this.quiet) return;
    if (this.#drawn) this.stream.write("\r\x1b[K");
    this.stream.write(`${message}\n`);
  }

  /** A warning: shown even when quiet. */
  warn(message: string): void {
    if (this.#drawn && !this.quiet) this.stream.write("\r\x1b[K");
    this.stream.write(`${message.startsWith("warning:") ? "" : "warning: "}${message}\n`);
  }

  end(): void {
    if (this.#drawn && !this.quiet) this.stream.write("\n");
    this.#drawn = false;
  }
}
