// Presenter mode, for a projector: the map on the left, one slide on the right (the drawing pad, the decoder
// at the ring, each step of the forward pass, the label, the samples), large type, and the keys a
// presentation clicker sends: PageDown / → / space forward, PageUp / ← back, Escape leaves. The slide is a
// shared setting (the URL's "slide"): a link opens the lecture at that slide.

export const markup = `
  <button data-vx="present" type="button" title="for a projector: the map and one slide at a time (keys: PageDown, PageUp, arrows, space)">Presenter mode</button>
  <span class="vx-present-nav"><button data-vx="prevpanel" type="button" aria-label="previous slide">◀</button>
    <span data-vx="panelname"></span><button data-vx="nextpanel" type="button" aria-label="next slide">▶</button></span>`;

const FORWARD = new Set(["PageDown", "ArrowRight", " ", "Spacebar"]);
const BACK = new Set(["PageUp", "ArrowLeft"]);

export function mount(ctx, map) {
  const { root, S, $ } = ctx;
  const slides = () => Array.from(root.querySelectorAll("[data-slide]")).filter((p) => !p.hidden && !p.closest("[hidden]"));

  function render() {
    const on = S.slide !== null, ps = slides();
    root.classList.toggle("vx-present", on);
    $("present").textContent = on ? "Leave" : "Presenter mode";
    ps.forEach((p, i) => p.classList.toggle("vx-shown", on && i === S.slide - 1));
    if (on) $("panelname").textContent = `${S.slide}/${ps.length} · ${ps[S.slide - 1].dataset.slide}`;
    map.setPresenting(on);
    requestAnimationFrame(() => { map.resize(); ctx.emit("presenting", on); });
  }
  /** Show slide n (1-based; out of range: the first). Returns a note saying so, or null. */
  function open(n) {
    const count = slides().length, valid = n >= 1 && n <= count;
    ctx.set("slide", valid ? n : 1);
    return valid ? null : `slide ${n} (there are ${count} slides)`;
  }
  const step = (d) => {
    const ps = slides(), count = ps.length, here = ps[S.slide - 1], within = here && ctx.clickers[here.dataset.slide];
    if (within && within(d)) return;  // a slide with steps of its own (the timeline's moments) takes the click
    ctx.set("slide", ((S.slide - 1 + d + count) % count) + 1);
  };
  ctx.on("settings", (name) => { if (name === "slide") render(); });
  ctx.on("model", () => { if (S.slide !== null && S.slide > slides().length) ctx.set("slide", slides().length); });
  $("present").addEventListener("click", () => (S.slide === null ? open(1) : ctx.set("slide", null)));
  $("nextpanel").addEventListener("click", () => step(1));
  $("prevpanel").addEventListener("click", () => step(-1));
  document.addEventListener("keydown", (e) => {
    if (S.slide === null || e.altKey || e.ctrlKey || e.metaKey) return;
    const t = e.target, typing = t && (t.tagName === "SELECT" || t.tagName === "INPUT" || t.isContentEditable || t.dataset.vx === "handle" || t.dataset.vx === "plot");
    if (e.key === "Escape") { ctx.set("slide", null); e.preventDefault(); return; }
    if (typing && (e.key === " " || e.key.startsWith("Arrow"))) return;
    if (FORWARD.has(e.key)) { step(1); e.preventDefault(); }
    else if (BACK.has(e.key)) { step(-1); e.preventDefault(); }
  });
  return { open, count: () => slides().length };
}
