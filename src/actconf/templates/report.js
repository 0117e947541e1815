// The report's sliders: plain JavaScript, no libraries, no network. Every <figure class="slider">
// holds its frames (data URIs) in a JSON <script>; the slider, the arrow keys and Play switch them.
(function () {
  "use strict";
  function setup(figure) {
    var data = JSON.parse(figure.querySelector("script.slider-data").textContent);
    var img = figure.querySelector("img.slider-frame");
    var range = figure.querySelector("input[type=range]");
    var label = figure.querySelector(".slider-label");
    var button = figure.querySelector("button.play");
    var preload = data.frames.map(function (src) { var im = new Image(); im.src = src; return im; });
    var timer = null;
    function show(i) {
      i = Math.max(0, Math.min(data.frames.length - 1, i));
      range.value = String(i);
      img.src = preload[i].src;
      label.textContent = data.labels[i];
      figure.setAttribute("data-frame", String(i));
    }
    function stop() {
      if (timer !== null) clearInterval(timer);
      timer = null;
      button.textContent = "▶";
    }
    function play() {
      if (Number(range.value) >= data.frames.length - 1) show(0);
      button.textContent = "❚❚";
      timer = setInterval(function () {
        var i = Number(range.value) + 1;
        if (i >= data.frames.length) { stop(); return; }
        show(i);
      }, 1000 / (data.fps || 4));
    }
    range.addEventListener("input", function () { stop(); show(Number(range.value)); });
    range.addEventListener("keydown", function (e) {
      if (e.key === " ") { e.preventDefault(); if (timer === null) play(); else stop(); }
    });
    button.addEventListener("click", function () { if (timer === null) play(); else stop(); });
    figure.setAttribute("data-frame", String(data.frames.length - 1));
    figure.setAttribute("data-ready", "true");
  }
  Array.prototype.forEach.call(document.querySelectorAll("figure.slider"), setup);
})();
