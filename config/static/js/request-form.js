// The request form (disbursements/request_new.html): as the caseworker chooses the child and the
// category, what that child has available and the care plan's budget for the category (the
// trustees decide; this only informs). The figures come from the page's json_script tag
// (#funds-data, type application/json), which the Content-Security-Policy allows: it is not run.
(function () {
  "use strict";
  const source = document.getElementById("funds-data");
  const child = document.getElementById("id_beneficiary");
  const category = document.getElementById("id_category");
  const hint = document.getElementById("funds-hint");
  if (!source || !child || !category || !hint) return;
  const data = JSON.parse(source.textContent);
  function show() {
    const f = data[child.value];
    if (!f) { hint.textContent = ""; return; }
    const budget = f.budgets[category.value];
    const label = category.options[category.selectedIndex].text.toLowerCase();
    hint.textContent = f.name + " has " + f.available + " available" +
      (budget ? "; the " + label + " budget is " + budget + "." : "; no " + label + " budget is set.");
  }
  child.addEventListener("change", show);
  category.addEventListener("change", show);
  show();
})();
