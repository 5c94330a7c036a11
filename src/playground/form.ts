/**
 * The optimizer form, generated from the registry: one input per option of the chosen entry
 * (number, checkbox or text, with the registry's default and description), and the typed values
 * read back through the registry's own parser, so the page accepts exactly what the CLI does.
 */
import { getOptimizer, parseOptimizerOptions } from "../train/registry.js";

/** Fill `box` with the option inputs of optimizer `name`. */
export function renderOptions(box: HTMLElement, name: string): void {
  const entry = getOptimizer(name);
  box.replaceChildren();
  for (const o of entry.options) {
    const label = document.createElement("label");
    label.title = o.description;
    const input = document.createElement("input");
    input.name = o.name;
    input.dataset.type = o.type;
    if (o.type === "boolean") {
      input.type = "checkbox";
      input.checked = o.default === true;
    } else {
      input.type = "text";
      input.size = 8;
      input.value = o.default === undefined ? "" : String(o.default);
      input.placeholder = o.default === undefined ? "unset" : "";
    }
    label.append(`${o.name} `, input);
    box.append(label);
  }
}

/** The options the user changed from their defaults, typed by the registry's parser. */
export function readOptions(box: HTMLElement, name: string): Record<string, unknown> {
  const entry = getOptimizer(name);
  const raw: Record<string, unknown> = {};
  for (const input of Array.from(box.querySelectorAll("input"))) {
    const spec = entry.options.find((o) => o.name === input.name);
    if (!spec) continue;
    const value = spec.type === "boolean" ? input.checked : input.value.trim();
    if (value === "" || value === String(spec.default ?? "")) continue;
    raw[spec.name] = value;
  }
  return parseOptimizerOptions(entry, raw);
}
