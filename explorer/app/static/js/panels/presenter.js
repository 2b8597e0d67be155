// Presenter mode: large type, the map and one panel at a time, stepped with the buttons.

export const markup = `
  <button data-vx="present" type="button" title="large type, the map and one panel at a time">Presenter mode</button>
  <span class="vx-present-nav"><button data-vx="prevpanel" type="button" aria-label="previous panel">◀</button>
    <span data-vx="panelname"></span><button data-vx="nextpanel" type="button" aria-label="next panel">▶</button></span>`;

export function mount(ctx, map) {
  const { root, $ } = ctx;
  const panels = () => Array.from(root.querySelectorAll(".vx-panels > .vx-card, .vx-side > .vx-card")).filter((p) => !p.hidden);
  let idx = 0;
  function show() {
    const ps = panels();
    idx = (idx + ps.length) % ps.length;
    ps.forEach((p, i) => p.classList.toggle("vx-shown", i === idx));
    $("panelname").textContent = (ps[idx].querySelector("h3") || {}).textContent || "";
  }
  $("present").addEventListener("click", () => {
    const on = root.classList.toggle("vx-present");
    $("present").textContent = on ? "Leave presenter mode" : "Presenter mode";
    if (on) show(); else panels().forEach((p) => p.classList.remove("vx-shown"));
    map.placeHandle(); map.drawOverlay();
  });
  $("nextpanel").addEventListener("click", () => { idx += 1; show(); });
  $("prevpanel").addEventListener("click", () => { idx -= 1; show(); });
}
