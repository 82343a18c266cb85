"use strict";
// Sorting of the batch index's table: click a column header; numbers sort as numbers, again to reverse.
(function () {
  const table = document.getElementById("batch");
  const body = table.tBodies[0];
  table.querySelectorAll("th").forEach((th, column) => {
    th.tabIndex = 0;
    const sort = () => {
      const down = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach((h) => h.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", down ? "ascending" : "descending");
      const key = (row) => row.cells[column].dataset.sort ?? row.cells[column].textContent;
      const rows = [...body.rows].sort((a, b) => {
        const x = key(a), y = key(b);
        const numeric = x !== "" && y !== "" && !isNaN(x) && !isNaN(y);
        const order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
        return down ? order : -order;
      });
      body.append(...rows);
    };
    th.onclick = sort;
    th.onkeydown = (ev) => { if (ev.key === "Enter") sort(); };
  });
})();
