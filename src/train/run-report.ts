/** A run folder's report.html, from its metrics.jsonl: rewritten at each checkpoint and at the
 *  end, so a killed run still has the one of its last checkpoint. */
import { join } from "node:path";
import { writeReport } from "../report/index.js";
import type { TrainConfig } from "./config.js";
import { MetricsLog } from "./metrics.js";

export async function writeRunReport(
  out: string,
  name: string,
  config: TrainConfig,
): Promise<void> {
  const rows = new MetricsLog(join(out, "metrics.jsonl")).read();
  await writeReport(join(out, "report.html"), [{ name, config: { ...config }, metrics: rows }], {
    title: `Rankwise run: ${name}`,
  });
}
