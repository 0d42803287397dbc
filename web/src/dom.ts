/** Tiny DOM helpers: elements are built with properties and text, never from HTML strings (no injection, CSP-safe). */

type Attrs = Record<string, string | number | boolean | null | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Node | string | null)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null) el.append(c);
  return el;
}

/** Sets text only when it changed (no layout work for an unchanged cell). */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

export function clear(el: Element): void {
  el.replaceChildren();
}

export function badge(status: string): HTMLSpanElement {
  return h('span', { class: `badge status-${status}`, 'aria-label': `status ${status}` }, status);
}

export function setBadge(el: HTMLElement, status: string): void {
  const cls = `badge status-${status}`;
  if (el.className !== cls) el.className = cls;
  el.setAttribute('aria-label', `status ${status}`);
  setText(el, status);
}
