// Presenter mode, for a projector: the map on the left, one slide on the right (the drawing pad, the
// decoder at the ring, each step of the forward pass, the label, the samples), large type, and keys as a
// presentation clicker sends them: PageDown / → / space forward, PageUp / ← back, Escape leaves.

export const markup = `
  <button data-vx="present" type="button" title="for a projector: the map and one slide at a time (keys: PageDown, PageUp, arrows, space)">Presenter mode</button>
  <span class="vx-present-nav"><button data-vx="prevpanel" type="button" aria-label="previous slide">◀</button>
    <span data-vx="panelname"></span><button data-vx="nextpanel" type="button" aria-label="next slide">▶</button></span>`;

const FORWARD = new Set(["PageDown", "ArrowRight", " ", "Spacebar"]);
const BACK = new Set(["PageUp", "ArrowLeft"]);

export function mount(ctx, map) {
  const { root, $ } = ctx;
  let idx = 0;
  const on = () => root.classList.contains("vx-present");

  function show() {
    const ps = Array.from(root.querySelectorAll("[data-slide]")).filter((p) => !p.hidden && !p.closest("[hidden]"));
    idx = (idx + ps.length) % ps.length;
    ps.forEach((p, i) => p.classList.toggle("vx-shown", i === idx));
    $("panelname").textContent = `${idx + 1}/${ps.length} · ${ps[idx].dataset.slide}`;
    requestAnimationFrame(() => { map.resize(); });
  }
  function toggle() {
    const now = root.classList.toggle("vx-present");
    $("present").textContent = now ? "Leave" : "Presenter mode";
    if (now) show(); else root.querySelectorAll(".vx-shown").forEach((p) => p.classList.remove("vx-shown"));
    map.setPresenting(now);
  }
  const step = (d) => { idx += d; show(); };
  $("present").addEventListener("click", toggle);
  $("nextpanel").addEventListener("click", () => step(1));
  $("prevpanel").addEventListener("click", () => step(-1));
  document.addEventListener("keydown", (e) => {
    if (!on() || e.altKey || e.ctrlKey || e.metaKey) return;
    const t = e.target, typing = t && (t.tagName === "SELECT" || t.tagName === "INPUT" || t.isContentEditable || t.dataset.vx === "handle");
    if (e.key === "Escape") { toggle(); e.preventDefault(); return; }
    if (typing && (e.key === " " || e.key.startsWith("Arrow"))) return;
    if (FORWARD.has(e.key)) { step(1); e.preventDefault(); }
    else if (BACK.has(e.key)) { step(-1); e.preventDefault(); }
  });
  return { show };
}
