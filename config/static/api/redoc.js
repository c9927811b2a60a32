// The API's docs page (config/templates/api/redoc.html): draw Redoc from the schema the page
// names (data-schema-url, data-settings), under the Content-Security-Policy (no inline script).
(function () {
  "use strict";
  const container = document.getElementById("redoc-container");
  // Long examples scroll: make each code block reachable from the keyboard (axe: scrollable
  // regions must be focusable), as Redoc draws and redraws them.
  new MutationObserver(() => {
    container.querySelectorAll("pre:not([tabindex])").forEach((pre) => pre.setAttribute("tabindex", "0"));
  }).observe(container, {childList: true, subtree: true});
  Redoc.init(container.dataset.schemaUrl, JSON.parse(container.dataset.settings), container);
})();
