// The tqops console's few behaviours, bound by data attributes (no inline script or handler):
// fields shown only for some values of another field, "select all" checkboxes, a drop zone
// for the integration file, confirmations before removing things, failed htmx requests shown
// where their answer would have gone, test outcomes that give way when the form changes, and
// a job's results kept as the reader left them when they are refreshed.
(function () {
  "use strict";

  // data-when="api_version=v2 v3;other=a": the field applies only where each named field
  // holds one of the values. A field that does not apply is hidden and its inputs disabled
  // (a disabled input is not sent, so the host keeps what it had).
  function applies(form, terms) {
    return terms.split(";").every(function (term) {
      var parts = term.split("=");
      var control = form.querySelector('[data-field="' + parts[0] + '"]');
      if (!control) { return true; }
      var value = control.type === "checkbox" ? String(control.checked) : control.value;
      return parts[1].split(" ").indexOf(value) !== -1;
    });
  }

  function updateConditions(root) {
    root.querySelectorAll("[data-when]").forEach(function (wrapper) {
      var form = wrapper.closest("form") || document;
      var show = applies(form, wrapper.getAttribute("data-when"));
      wrapper.hidden = !show;
      wrapper.querySelectorAll("input, select, textarea").forEach(function (input) {
        input.disabled = !show;
      });
    });
  }

  // Call bind once for each element that matches (a swapped fragment is set up again).
  function once(root, selector, bind) {
    root.querySelectorAll(selector).forEach(function (element) {
      if (element.dataset.bound) { return; }
      element.dataset.bound = "1";
      bind(element);
    });
  }

  function bindSelectAll(root) {
    once(root, "[data-select-all]", function (toggle) {
      var name = toggle.getAttribute("data-select-all");
      var form = toggle.closest("form");
      toggle.addEventListener("change", function () {
        form.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (box) {
          if (!box.disabled) { box.checked = toggle.checked; }
        });
      });
    });
  }

  function bindDropZones(root) {
    once(root, "[data-dropzone]", function (zone) {
      var input = zone.querySelector('input[type="file"]');
      var chosen = zone.querySelector("[data-chosen]");
      function show() {
        if (chosen) {
          chosen.textContent = input.files.length ? "Chosen: " + input.files[0].name : "";
        }
      }
      ["dragenter", "dragover"].forEach(function (name) {
        zone.addEventListener(name, function (event) {
          event.preventDefault();
          zone.classList.add("over");
        });
      });
      ["dragleave", "drop"].forEach(function (name) {
        zone.addEventListener(name, function () { zone.classList.remove("over"); });
      });
      zone.addEventListener("drop", function (event) {
        event.preventDefault();
        if (event.dataTransfer && event.dataTransfer.files.length) {
          input.files = event.dataTransfer.files;
          show();
        }
      });
      input.addEventListener("change", show);
    });
  }

  // data-keep-picks="id" on the indicator list's form: the ticks survive paging, sorting and
  // filtering (kept in this tab's sessionStorage), and the form sends the ticks made on other
  // pages too. Ids of indicators deleted meanwhile are dropped by the Run page.
  var PICKS = "tqops-picked-indicators";

  function readPicks() {
    try {
      var kept = JSON.parse(window.sessionStorage.getItem(PICKS) || "[]");
      return Array.isArray(kept) ? kept.filter(function (id) { return /^[0-9]+$/.test(id); }) : [];
    } catch (error) {
      return [];
    }
  }

  function writePicks(ids) {
    try { window.sessionStorage.setItem(PICKS, JSON.stringify(ids)); } catch (error) { /* private mode */ }
  }

  function bindKeptPicks(root) {
    once(root, "[data-keep-picks]", function (form) {
      var name = form.getAttribute("data-keep-picks");
      var boxes = function () {
        return Array.prototype.slice.call(form.querySelectorAll('input[type="checkbox"][name="' + name + '"]'));
      };
      var status = form.querySelector("[data-picked-status]");
      var clear = form.querySelector("[data-clear-picks]");
      function show() {
        var picks = readPicks();
        var here = boxes().map(function (box) { return box.value; });
        var elsewhere = picks.filter(function (id) { return here.indexOf(id) === -1; }).length;
        if (status) {
          status.textContent = picks.length === 0 ? "" :
            picks.length + (picks.length === 1 ? " indicator ticked" : " indicators ticked") +
            (elsewhere ? " (" + elsewhere + " on other pages)" : "") + ".";
        }
        if (clear) { clear.hidden = picks.length === 0; }
      }
      function save() {
        var picks = readPicks();
        boxes().forEach(function (box) {
          var at = picks.indexOf(box.value);
          if (box.checked && at === -1) { picks.push(box.value); }
          if (!box.checked && at !== -1) { picks.splice(at, 1); }
        });
        writePicks(picks);
        show();
      }
      var picks = readPicks();
      boxes().forEach(function (box) { box.checked = picks.indexOf(box.value) !== -1; });
      // after the "select all" toggle's own handler has ticked the boxes
      form.addEventListener("change", function (event) {
        if (event.target.matches('input[type="checkbox"]')) { save(); }
      });
      form.addEventListener("submit", function () {
        var here = boxes().map(function (box) { return box.value; });
        readPicks().forEach(function (id) {
          if (here.indexOf(id) !== -1) { return; }
          var hidden = document.createElement("input");
          hidden.type = "hidden";
          hidden.name = name;
          hidden.value = id;
          form.appendChild(hidden);
        });
      });
      if (clear) {
        clear.addEventListener("click", function () {
          writePicks([]);
          boxes().forEach(function (box) { box.checked = false; });
          var all = form.querySelector("[data-select-all]");
          if (all) { all.checked = false; }
          show();
        });
      }
      show();
    });
  }

  function setUp(root) {
    updateConditions(root);
    bindSelectAll(root);
    bindDropZones(root);
    bindKeptPicks(root);
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-field]")) {
      updateConditions(event.target.closest("form") || document);
    }
  });

  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var message = (button && button.getAttribute("data-confirm")) ||
      event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });

  // data-shows-failures on an htmx target: a request that failed says so there. htmx swaps no
  // 4xx or 5xx answer and shows nothing when the host does not answer, so a button would
  // seem to do nothing at all.
  function showFailure(event, text) {
    var region = event.detail && event.detail.target;
    if (!region || !region.hasAttribute("data-shows-failures")) { return; }
    var box = document.createElement("div");
    box.className = "problem";
    box.setAttribute("role", "alert");
    var line = document.createElement("p");
    line.textContent = text;
    box.appendChild(line);
    region.replaceChildren(box);
    delete region.dataset.staleShown;
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var said = "";
    try {  // the error page's one line (parsed inertly: nothing in it runs)
      var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var found = page.querySelector("main .problem") || page.querySelector("main");
      said = found ? found.textContent.replace(/\s+/g, " ").trim() : "";
    } catch (ignored) { said = ""; }
    showFailure(event, "That did not work (" + xhr.status + ")" + (said ? ": " + said : "."));
  });
  document.addEventListener("htmx:sendError", function (event) {
    showFailure(event, "The host did not answer: check that it is running, then try again.");
  });

  // data-stale="#connection" on a form: a test's outcome shown there describes the values as
  // they were; once one changes it no longer does, and gives way to a note that says so.
  function markStale(event) {
    var form = event.target.closest && event.target.closest("form[data-stale]");
    if (!form) { return; }
    var region = document.querySelector(form.getAttribute("data-stale"));
    if (!region || region.dataset.staleShown || !region.textContent.trim()) { return; }
    var note = document.createElement("p");
    note.className = "muted";
    note.textContent = "The form has changed since this test: test again to see how the values fare.";
    region.replaceChildren(note);
    region.dataset.staleShown = "1";
  }
  document.addEventListener("input", markStale);
  document.addEventListener("change", markStale);

  // A job's results are refreshed while it runs (and once when it ends): what the reader
  // had opened, ticked or focused in them is kept, by their data-keep keys, so that a refresh
  // never takes the keyboard's focus or closes what they were reading. (Not by id: htmx would
  // then carry a style attribute a browser put on the old element over to the new one, which
  // the Content-Security-Policy refuses.)
  var kept = null;

  function keyOf(element) { return element && element.getAttribute("data-keep"); }

  function keepState(section) {
    var active = document.activeElement;
    kept = {
      focus: active && section.contains(active) ? keyOf(active) : null,
      open: Array.from(section.querySelectorAll("details[open][data-keep]")).map(keyOf),
      checked: Array.from(section.querySelectorAll("input[type=checkbox][data-keep]:checked")).map(keyOf)
    };
  }

  function keptElement(key) {
    return document.querySelector('#results [data-keep="' + CSS.escape(key) + '"]');
  }

  function restoreState() {
    if (!kept) { return; }
    var state = kept;
    kept = null;
    state.open.forEach(function (key) {
      var element = keptElement(key);
      if (element) { element.open = true; }
    });
    state.checked.forEach(function (key) {
      var element = keptElement(key);
      if (element) { element.checked = true; }
    });
    if (state.focus) {
      var focused = keptElement(state.focus);
      if (focused) { focused.focus({preventScroll: true}); }
    }
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.id === "results") { keepState(target); }
  });

  document.addEventListener("DOMContentLoaded", function () { setUp(document); });
  document.addEventListener("htmx:afterSwap", function (event) {
    delete event.target.dataset.staleShown;  // a new outcome, for the values as they are
    // an outerHTML swap leaves event.target out of the page: set up the page instead
    setUp(event.target && event.target.isConnected ? event.target : document);
    restoreState();
  });
})();
