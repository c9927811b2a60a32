// A batch of reports (reports/batch.html): follow its progress until it finishes, then reload to
// list the PDFs. The page says where to ask (data-url) and whether it is done (data-finished).
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box || box.dataset.finished === "1") return;
  function tick() {
    fetch(box.dataset.url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (p) {
        box.querySelector("progress").value = p.percent;
        box.querySelector('[data-field="done"]').textContent = p.done;
        box.querySelector('[data-field="failed"]').textContent = p.failed;
        if (p.finished) { window.location.reload(); } else { setTimeout(tick, 1000); }
      })
      .catch(function () { setTimeout(tick, 3000); });
  }
  setTimeout(tick, 1000);
})();
