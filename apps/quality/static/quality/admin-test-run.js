/* The rule editor's "Test run on a sample" button: posts the change form, unsaved, to the test-run URL, polls the
 * test scan every 2 seconds and shows its result below the button. The form itself is left untouched. */
(function () {
  "use strict";

  var POLL_MS = 2000;
  var GIVE_UP_MS = 30 * 60 * 1000;

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function number(value, digits) {
    if (value === null || value === undefined) return "—";
    return typeof value === "number" ? String(Number(value.toFixed(digits))) : String(value);
  }

  function renderErrors(box, answer) {
    clear(box);
    box.appendChild(el("p", answer.detail || "The test run was refused.", "errornote"));
    var fields = answer.fields || {};
    var names = Object.keys(fields);
    if (!names.length) return;
    var list = el("ul", null, "errorlist");
    names.forEach(function (name) {
      (fields[name] || []).forEach(function (message) {
        list.appendChild(el("li", (name === "non_field_errors" ? "" : name + ": ") + message));
      });
    });
    box.appendChild(list);
  }

  function renderSamples(box, samples) {
    if (!samples || !samples.rows || !samples.rows.length) {
      box.appendChild(el("p", "No failing-row samples."));
      return;
    }
    if (samples.masked) {
      box.appendChild(el("p", "Personal columns masked: " + samples.personal.join(", ") + ".", "help"));
    }
    var table = el("table");
    var head = el("thead");
    var headRow = el("tr");
    samples.columns.forEach(function (column) {
      headRow.appendChild(el("th", column));
    });
    head.appendChild(headRow);
    table.appendChild(head);
    var body = el("tbody");
    samples.rows.forEach(function (row) {
      var tr = el("tr");
      samples.columns.forEach(function (column) {
        var value = row[column];
        tr.appendChild(el("td", value === null || value === undefined ? "null" : value));
      });
      body.appendChild(tr);
    });
    table.appendChild(body);
    box.appendChild(table);
  }

  function renderStatus(box, status) {
    clear(box);
    if (status.state === "failed") {
      box.appendChild(el("p", "The test run failed: " + (status.error || "no reason given"), "errornote"));
      return;
    }
    var result = status.result;
    if (!result) {
      box.appendChild(el("p", "The test run finished without a result."));
      return;
    }
    var facts = el("dl");
    [
      ["Outcome", result.outcome],
      ["Metric", number(result.metric, 6)],
      ["Failing rows", number(result.failing_rows, 0)],
      ["Failing fraction", number(result.failing_fraction, 6)],
      ["Rows read", number(status.rows_scanned, 0) + " (sample of " + number(status.sample_rows, 0) + ")"],
      ["Message", result.message || "—"],
    ].forEach(function (pair) {
      facts.appendChild(el("dt", pair[0]));
      facts.appendChild(el("dd", pair[1], pair[0] === "Outcome" ? "quality-outcome-" + String(pair[1]) : ""));
    });
    box.appendChild(facts);
    renderSamples(box, result.samples);
  }

  function start(section) {
    var form = section.closest("form");
    var button = document.getElementById("quality-test-run-button");
    var state = document.getElementById("quality-test-run-state");
    var box = document.getElementById("quality-test-run-result");
    if (!form || !button || !state || !box) return;
    var current = 0; // a newer test run stops the polling of an older one

    function poll(run, url, since) {
      if (run !== current) return;
      if (Date.now() - since > GIVE_UP_MS) {
        state.textContent = "Still running after 30 minutes; see the scan in the quality scans list.";
        button.disabled = false;
        return;
      }
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.json().then(function (answer) {
            return { ok: response.ok, answer: answer };
          });
        })
        .then(function (reply) {
          if (run !== current) return;
          if (!reply.ok) {
            renderErrors(box, reply.answer);
            state.textContent = "";
            button.disabled = false;
          } else if (!reply.answer.finished) {
            state.textContent = "Running (" + (reply.answer.run_state || reply.answer.state) + ")…";
            window.setTimeout(function () {
              poll(run, url, since);
            }, POLL_MS);
          } else {
            state.textContent = "Finished.";
            renderStatus(box, reply.answer);
            button.disabled = false;
          }
        })
        .catch(function () {
          if (run !== current) return;
          state.textContent = "Lost contact with the portal; retrying…";
          window.setTimeout(function () {
            poll(run, url, since);
          }, POLL_MS);
        });
    }

    button.addEventListener("click", function () {
      current += 1;
      var run = current;
      var data = new FormData(form);
      var token = form.querySelector("input[name=csrfmiddlewaretoken]");
      button.disabled = true;
      clear(box);
      state.textContent = "Sending…";
      fetch(section.dataset.url, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": token ? token.value : "" },
      })
        .then(function (response) {
          return response.json().then(function (answer) {
            return { ok: response.ok, answer: answer };
          });
        })
        .then(function (reply) {
          if (run !== current) return;
          if (!reply.ok) {
            state.textContent = "";
            renderErrors(box, reply.answer);
            button.disabled = false;
            return;
          }
          state.textContent = "Queued…";
          poll(run, reply.answer.status_url, Date.now());
        })
        .catch(function () {
          if (run !== current) return;
          state.textContent = "The test run could not be sent.";
          button.disabled = false;
        });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var section = document.getElementById("quality-test-run");
    if (section) start(section);
  });
})();
