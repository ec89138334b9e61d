// mlops ui: draws each chart from its figure (data-figure: plotly.js's data and layout), and
// submits filter forms when a select changes. plotly.js is served by this server from the
// installed plotly package.
(function () {
  "use strict";
  function draw() {
    var charts = document.querySelectorAll(".chart[data-figure]");
    for (var i = 0; i < charts.length; i++) {
      var el = charts[i];
      var figure;
      try {
        figure = JSON.parse(el.getAttribute("data-figure"));
      } catch (e) {
        el.textContent = "this chart's figure is unreadable";
        continue;
      }
      if (typeof window.Plotly === "undefined") {
        el.className += " no-charts";
        el.textContent = "charts need plotly.js: pip install plotly (the tables hold the same figures)";
        continue;
      }
      window.Plotly.newPlot(el, figure.data, figure.layout,
        {displayModeBar: false, responsive: true, staticPlot: false});
      el.setAttribute("data-drawn", "1");
    }
  }
  function autosubmit() {
    var selects = document.querySelectorAll("select.autosubmit");
    for (var i = 0; i < selects.length; i++) {
      selects[i].addEventListener("change", function (event) {
        var form = event.target.form;
        var compare = form.querySelector("#compare");
        if (compare && event.target.name === "examples") { compare.value = ""; }
        form.submit();
      });
    }
  }
  document.addEventListener("DOMContentLoaded", function () { autosubmit(); draw(); });
})();
