/*
 * The dataset page's lineage graph: fetched from the lineage graph API (same-origin, session cookie) and drawn as a
 * layered DAG in SVG. Columns are lineage hops: upstream sources to the left of the centred node, consumers to the
 * right. Click a node to centre the graph on it; drag to pan; scroll or use the buttons to zoom (the viewBox moves,
 * so text stays crisp). No dependencies, no inline script: the page passes its settings as data attributes.
 */
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  var NODE_W = 184;
  var NODE_H = 50;
  var COL_GAP = 60;
  var ROW_GAP = 18;
  var PAD = 36;
  var ORDER_SWEEPS = 6;
  var DRAG_THRESHOLD = 4;
  var MIN_READABLE_SCALE = 0.7;
  var MIN_HEIGHT = 320;
  var MAX_HEIGHT = 600;

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG_NS, name);
    Object.keys(attrs || {}).forEach(function (key) {
      node.setAttribute(key, attrs[key]);
    });
    if (parent) parent.appendChild(node);
    return node;
  }

  /* Shortens an SVG text element until it fits ``width`` (measured, so wide and narrow letters both fit). */
  function fitText(node, text, width) {
    text = String(text == null ? "" : text);
    node.textContent = text;
    if (typeof node.getComputedTextLength !== "function" || node.getComputedTextLength() <= width) return;
    var keep = text.length;
    while (keep > 1 && node.getComputedTextLength() > width) {
      keep -= 1;
      node.textContent = text.slice(0, keep) + "…";
    }
  }

  function sameDataset(a, b) {
    return a.namespace === b.namespace && a.name === b.name;
  }

  /* Column of a node: negative hops upstream, positive downstream, 0 for the root. */
  function columnOf(node) {
    var hops = Number(node.hops) || 0;
    if (node.side === "upstream") return -hops;
    if (node.side === "downstream") return hops;
    return 0;
  }

  /*
   * Positions for every node. Columns come from hops; the order inside a column is improved by a few barycentre
   * sweeps (each node moves towards the mean position of its neighbours), which removes most edge crossings of
   * lineage graphs without the cost of an exact layout.
   */
  function layout(nodes, edges) {
    var byId = {};
    var columns = {};
    var neighbours = {};
    nodes.forEach(function (node) {
      byId[node.id] = node;
      node.col = columnOf(node);
      (columns[node.col] = columns[node.col] || []).push(node);
      neighbours[node.id] = [];
    });
    edges.forEach(function (edge) {
      if (byId[edge.source] && byId[edge.target]) {
        neighbours[edge.source].push(edge.target);
        neighbours[edge.target].push(edge.source);
      }
    });
    var keys = Object.keys(columns).map(Number).sort(function (a, b) { return a - b; });
    keys.forEach(function (key) {
      columns[key].sort(function (a, b) { return (a.name + a.field).localeCompare(b.name + b.field); });
      columns[key].forEach(function (node, i) { node.order = i - (columns[key].length - 1) / 2; });
    });
    for (var sweep = 0; sweep < ORDER_SWEEPS; sweep++) {
      var sequence = sweep % 2 === 0 ? keys : keys.slice().reverse();
      sequence.forEach(function (key) {
        var column = columns[key];
        column.forEach(function (node) {
          var around = neighbours[node.id].map(function (id) { return byId[id]; }).filter(function (other) {
            return other.col !== node.col;
          });
          node.bary = around.length
            ? around.reduce(function (sum, other) { return sum + other.order; }, 0) / around.length
            : node.order;
        });
        column.sort(function (a, b) { return a.bary - b.bary || a.order - b.order; });
        column.forEach(function (node, i) { node.order = i - (column.length - 1) / 2; });
      });
    }
    var minCol = keys.length ? keys[0] : 0;
    nodes.forEach(function (node) {
      node.x = (node.col - minCol) * (NODE_W + COL_GAP);
      node.y = node.order * (NODE_H + ROW_GAP);
    });
    return byId;
  }

  function edgePath(source, target) {
    var x1 = source.x + NODE_W;
    var y1 = source.y + NODE_H / 2;
    var x2 = target.x;
    var y2 = target.y + NODE_H / 2;
    // Edges that do not go left to right (diamonds and cycles reached at equal hops) bend out and back in.
    var bend = x2 > x1 ? (x2 - x1) / 2 : COL_GAP;
    return "M" + x1 + "," + y1 + " C" + (x1 + bend) + "," + y1 + " " + (x2 - bend) + "," + y2 + " " + x2 + "," + y2;
  }

  function edgeTitle(edge, byId) {
    var parts = [nodeLabel(byId[edge.source]) + " → " + nodeLabel(byId[edge.target])];
    if (edge.job) parts.push("job " + edge.job);
    var t = edge.transformation;
    if (t) {
      var kind = [t.type, t.subtype].filter(Boolean).join(" / ");
      if (kind) parts.push(kind);
      if (t.masking) parts.push("masked");
    }
    return parts.join("\n");
  }

  function nodeLabel(node) {
    if (!node) return "?";
    return node.field ? node.name + "." + node.field : node.name;
  }

  function Graph(section) {
    this.section = section;
    this.svg = section.querySelector("[data-graph-canvas]");
    this.status = section.querySelector("[data-graph-status]");
    this.error = section.querySelector("[data-graph-error]");
    this.form = section.querySelector("[data-graph-controls]");
    this.exportLink = section.querySelector("[data-graph-export]");
    this.ownersList = section.querySelector("[data-graph-owners]");
    this.focusName = section.querySelector("[data-graph-focus-name]");
    this.focusMeta = section.querySelector("[data-graph-focus-meta]");
    this.openLink = section.querySelector("[data-graph-open]");
    this.resetButton = section.querySelector("[data-graph-reset]");
    this.graphUrl = section.dataset.graphUrl;
    this.exportUrl = section.dataset.exportUrl;
    this.lookupUrl = section.dataset.lookupUrl;
    this.maxDepth = Number(section.dataset.maxDepth) || 20;
    this.home = { namespace: section.dataset.namespace, name: section.dataset.name, field: null };
    this.root = Object.assign({}, this.home);
    this.view = null;
    this.request = null;
    this.bindControls();
    this.bindPanZoom();
    this.load();
  }

  Graph.prototype.params = function () {
    var depth = Math.min(Math.max(parseInt(this.form.elements.depth.value, 10) || 3, 1), this.maxDepth);
    var params = new URLSearchParams({
      namespace: this.root.namespace,
      name: this.root.name,
      direction: this.form.elements.direction.value,
      depth: String(depth),
    });
    if (this.root.field) params.set("field", this.root.field);
    return params;
  };

  Graph.prototype.bindControls = function () {
    var self = this;
    this.form.addEventListener("submit", function (event) { event.preventDefault(); });
    this.form.elements.direction.addEventListener("change", function () { self.load(); });
    this.form.elements.depth.addEventListener("change", function () { self.load(); });
    this.form.elements.field.addEventListener("change", function () {
      self.root.field = this.value || null;
      self.load();
    });
    this.resetButton.addEventListener("click", function () { self.recentre(Object.assign({}, self.home)); });
  };

  /* Keeps the field picker truthful: the home dataset's fields, or the one foreign field the graph is centred on. */
  Graph.prototype.syncFieldPicker = function () {
    var select = this.form.elements.field;
    var foreign = select.querySelector("option[data-foreign]");
    if (foreign) foreign.remove();
    if (sameDataset(this.root, this.home)) {
      select.disabled = false;
      select.value = this.root.field || "";
      return;
    }
    if (this.root.field) {
      var option = document.createElement("option");
      option.value = this.root.field;
      option.textContent = this.root.name + "." + this.root.field;
      option.setAttribute("data-foreign", "");
      select.appendChild(option);
      select.value = this.root.field;
    } else {
      select.value = "";
    }
    select.disabled = true;
  };

  Graph.prototype.recentre = function (target) {
    this.root = { namespace: target.namespace, name: target.name, field: target.field || null };
    this.load();
  };

  Graph.prototype.showError = function (message) {
    this.status.hidden = true;
    this.error.hidden = false;
    this.error.textContent = message;
  };

  Graph.prototype.load = function () {
    var self = this;
    var params = this.params();
    this.syncFieldPicker();
    this.updateFocus(null);
    this.exportLink.href = this.exportUrl + "?" + params.toString();
    this.error.hidden = true;
    this.status.hidden = false;
    this.status.textContent = "Loading the lineage graph…";
    if (this.request) this.request.abort();
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    this.request = controller;
    fetch(this.graphUrl + "?" + params.toString(), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      signal: controller ? controller.signal : undefined,
    })
      .then(function (response) {
        return response.json().then(
          function (body) { return { response: response, body: body }; },
          function () { return { response: response, body: null }; }
        );
      })
      .then(function (result) {
        if (!result.response.ok) {
          var detail = result.body && result.body.detail ? result.body.detail : result.response.statusText;
          throw new Error(detail + " (HTTP " + result.response.status + ")");
        }
        var body = result.body;
        if (!body || !Array.isArray(body.nodes) || !Array.isArray(body.edges)) {
          throw new Error("the answer is not a lineage graph");
        }
        self.render(body);
      })
      .catch(function (err) {
        if (err && err.name === "AbortError") return;
        self.clear();
        self.renderOwners([]);
        self.showError("The lineage graph could not be loaded: " + (err && err.message ? err.message : err) + ".");
      });
  };

  Graph.prototype.clear = function () {
    while (this.svg.firstChild) this.svg.removeChild(this.svg.firstChild);
  };

  Graph.prototype.render = function (data) {
    var self = this;
    var nodes = data.nodes.map(function (node) { return Object.assign({}, node); });
    var byId = layout(nodes, data.edges);
    this.clear();

    var defs = el("defs", {}, this.svg);
    [["arrow", "arrow"], ["arrow-masking", "arrow masking"]].forEach(function (marker) {
      var m = el("marker", {
        id: "lg-" + marker[0], viewBox: "0 0 10 10", refX: "9", refY: "5",
        markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse",
      }, defs);
      el("path", { d: "M0,0 L10,5 L0,10 z", class: marker[1] }, m);
    });

    var viewport = el("g", { class: "viewport" }, this.svg);
    var edgeLayer = el("g", { class: "edges" }, viewport);
    var nodeLayer = el("g", { class: "nodes" }, viewport);

    data.edges.forEach(function (edge) {
      var source = byId[edge.source];
      var target = byId[edge.target];
      if (!source || !target) return;
      var t = edge.transformation || {};
      var classes = ["edge"];
      if (t.masking) classes.push("masking");
      if (t.type === "INDIRECT") classes.push("indirect");
      var group = el("g", { class: classes.join(" ") }, edgeLayer);
      el("title", {}, group).textContent = edgeTitle(edge, byId);
      el("path", { class: "hit", d: edgePath(source, target) }, group);
      el("path", {
        class: "line", d: edgePath(source, target),
        "marker-end": "url(#" + (t.masking ? "lg-arrow-masking" : "lg-arrow") + ")",
      }, group);
    });

    nodes.forEach(function (node) {
      var isRoot = node.side === "root";
      var group = el("g", {
        class: "node side-" + (node.side || "root") + " type-" + (node.type || "dataset") + (isRoot ? " root" : ""),
        transform: "translate(" + node.x + "," + node.y + ")",
        tabindex: "0",
        role: "button",
        "aria-label": (isRoot ? "Centred: " : "Centre on ") + nodeLabel(node),
      }, nodeLayer);
      group.__node = node;
      el("title", {}, group).textContent =
        node.namespace + "/" + node.name + (node.field ? " · field " + node.field : "") +
        (isRoot ? "" : "\n" + node.hops + " hop" + (node.hops === 1 ? "" : "s") + " " + node.side);
      el("rect", { width: NODE_W, height: NODE_H, rx: 8, ry: 8 }, group);
      el("rect", { class: "stripe", width: 5, height: NODE_H, rx: 2, ry: 2 }, group);
      var title = el("text", { x: 16, y: 21, class: "name" }, group);
      fitText(title, node.field ? node.field : node.name, NODE_W - 26);
      var sub = el("text", { x: 16, y: 38, class: "sub" }, group);
      fitText(sub, node.field ? node.name : node.namespace, NODE_W - 26);
      group.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          self.activate(node);
        }
      });
    });

    var rootNode = nodes.filter(function (node) { return node.side === "root"; })[0] || null;
    this.updateFocus(data, rootNode);
    var names = {};
    nodes.forEach(function (node) { names[String(node.namespace).replace(/\/+$/, "") + "/" + node.name] = node.name; });
    this.renderOwners(data.owners || [], names);
    this.bounds = this.contentBounds(nodes);
    this.initialView(rootNode);

    var direction = this.params().get("direction");
    this.status.classList.toggle("warn", Boolean(data.truncated));
    this.status.hidden = false;
    if (nodes.length <= 1) {
      this.status.textContent = "No lineage recorded " + (direction === "both" ? "in either direction" : direction) + " yet.";
    } else if (data.truncated) {
      this.status.textContent = "Showing " + nodes.length + " nodes: the graph was cut short. Lower the depth or pick a field to see all of it.";
    } else {
      this.status.hidden = true;
    }
  };

  Graph.prototype.updateFocus = function (data, rootNode) {
    var root = this.root;
    var atHome = sameDataset(root, this.home);
    this.focusName.textContent = root.field ? root.name + "." + root.field : root.name;
    if (data) {
      var up = data.nodes.filter(function (n) { return n.side === "upstream"; }).length;
      var down = data.nodes.filter(function (n) { return n.side === "downstream"; }).length;
      this.focusMeta.textContent = (rootNode ? rootNode.namespace : root.namespace) + " · " + up + " upstream, " +
        down + " downstream" + (data.truncated ? " (cut short)" : "");
    } else {
      this.focusMeta.textContent = root.namespace;
    }
    this.openLink.hidden = atHome;
    this.openLink.href = this.lookupUrl + "?" + new URLSearchParams({ namespace: root.namespace, name: root.name });
    this.resetButton.hidden = atHome && !root.field;
  };

  Graph.prototype.renderOwners = function (owners, names) {
    var list = this.ownersList;
    while (list.firstChild) list.removeChild(list.firstChild);
    if (!owners.length) {
      var none = document.createElement("li");
      none.className = "muted";
      none.textContent = "No downstream owners in this view.";
      list.appendChild(none);
      return;
    }
    owners.forEach(function (owner) {
      var item = document.createElement("li");
      var avatar = document.createElement("span");
      avatar.className = "avatar";
      avatar.setAttribute("aria-hidden", "true");
      avatar.textContent = String(owner.display_name || owner.username || "?").slice(0, 1).toUpperCase();
      var text = document.createElement("span");
      var name = document.createElement("strong");
      name.textContent = owner.display_name || owner.username;
      text.appendChild(name);
      if (owner.email) {
        var mail = document.createElement("a");
        mail.href = "mailto:" + owner.email;
        mail.textContent = owner.email;
        text.appendChild(mail);
      }
      var datasets = owner.datasets || [];
      if (datasets.length) {
        var owns = document.createElement("small");
        owns.textContent = "owns " + datasets.map(function (qualified) {
          return (names && names[qualified]) || qualified;
        }).join(", ");
        owns.title = datasets.join("\n");
        text.appendChild(owns);
      }
      item.appendChild(avatar);
      item.appendChild(text);
      list.appendChild(item);
    });
  };

  Graph.prototype.activate = function (node) {
    if (node.side === "root") return;
    this.recentre(node);
  };

  /* ---- pan and zoom: the viewBox keeps the element's aspect ratio, so screen and graph coordinates map linearly */

  Graph.prototype.contentBounds = function (nodes) {
    if (!nodes.length) return { x: 0, y: 0, w: NODE_W, h: NODE_H };
    var xs = nodes.map(function (n) { return n.x; });
    var ys = nodes.map(function (n) { return n.y; });
    var minX = Math.min.apply(null, xs) - PAD;
    var minY = Math.min.apply(null, ys) - PAD;
    return {
      x: minX, y: minY,
      w: Math.max.apply(null, xs) + NODE_W + PAD - minX,
      h: Math.max.apply(null, ys) + NODE_H + PAD - minY,
    };
  };

  Graph.prototype.aspect = function () {
    var rect = this.svg.getBoundingClientRect();
    return rect.width > 0 && rect.height > 0 ? rect.height / rect.width : 0.45;
  };

  /* Shows the whole graph, never magnified beyond its natural size (a small graph would look oversized). */
  Graph.prototype.fit = function () {
    var b = this.bounds || { x: 0, y: 0, w: NODE_W, h: NODE_H };
    var rect = this.svg.getBoundingClientRect();
    var aspect = this.aspect();
    var w = Math.max(b.w, b.h / aspect, rect.width || 0);
    var h = w * aspect;
    this.setView({ x: b.x + b.w / 2 - w / 2, y: b.y + b.h / 2 - h / 2, w: w, h: h });
  };

  /*
   * The first view of a graph: the canvas height follows the graph (within limits) and the scale never drops below
   * MIN_READABLE_SCALE, so labels stay legible; a graph wider than that is centred on its root and panned to.
   */
  Graph.prototype.initialView = function (rootNode) {
    var b = this.bounds || { x: 0, y: 0, w: NODE_W, h: NODE_H };
    var width = this.svg.getBoundingClientRect().width || 800;
    var scale = Math.max(Math.min(1, width / b.w), MIN_READABLE_SCALE);
    var height = Math.min(Math.max(b.h * scale, MIN_HEIGHT), MAX_HEIGHT);
    this.svg.style.minHeight = height + "px";
    scale = Math.max(Math.min(scale, height / b.h), MIN_READABLE_SCALE);
    var w = width / scale;
    var h = w * this.aspect();
    var cx = b.x + b.w / 2;
    if (w < b.w && rootNode) {
      // Too wide to show whole: keep the root in view, but do not leave empty space beyond the graph's edges.
      cx = Math.min(Math.max(rootNode.x + NODE_W / 2, b.x + w / 2), b.x + b.w - w / 2);
    }
    this.setView({ x: cx - w / 2, y: b.y + b.h / 2 - h / 2, w: w, h: h });
  };

  /* After a resize, keep the centre and scale of the current view with the element's new aspect ratio. */
  Graph.prototype.keepAspect = function () {
    if (!this.view) return;
    var aspect = this.aspect();
    var h = this.view.w * aspect;
    this.setView({ x: this.view.x, y: this.view.y + (this.view.h - h) / 2, w: this.view.w, h: h });
  };

  Graph.prototype.setView = function (view) {
    this.view = view;
    this.svg.setAttribute("viewBox", [view.x, view.y, view.w, view.h].join(" "));
  };

  Graph.prototype.zoom = function (factor, clientX, clientY) {
    if (!this.view) return;
    var rect = this.svg.getBoundingClientRect();
    var fx = clientX == null ? 0.5 : (clientX - rect.left) / rect.width;
    var fy = clientY == null ? 0.5 : (clientY - rect.top) / rect.height;
    var b = this.bounds || this.view;
    var w = Math.min(Math.max(this.view.w * factor, NODE_W * 1.5), Math.max(b.w, b.h / this.aspect()) * 4);
    var h = w * this.aspect();
    var px = this.view.x + fx * this.view.w;
    var py = this.view.y + fy * this.view.h;
    this.setView({ x: px - fx * w, y: py - fy * h, w: w, h: h });
  };

  Graph.prototype.bindPanZoom = function () {
    var self = this;
    var svg = this.svg;
    var drag = null;

    svg.addEventListener("wheel", function (event) {
      event.preventDefault();
      self.zoom(event.deltaY > 0 ? 1.15 : 1 / 1.15, event.clientX, event.clientY);
    }, { passive: false });

    svg.addEventListener("pointerdown", function (event) {
      if (event.button !== 0 || !self.view) return;
      drag = { x: event.clientX, y: event.clientY, view: Object.assign({}, self.view), moved: false, id: event.pointerId };
    });
    svg.addEventListener("pointermove", function (event) {
      if (!drag) return;
      var dx = event.clientX - drag.x;
      var dy = event.clientY - drag.y;
      if (!drag.moved && Math.abs(dx) + Math.abs(dy) < DRAG_THRESHOLD) return;
      if (!drag.moved) {
        drag.moved = true;
        svg.setPointerCapture(drag.id);
        svg.classList.add("panning");
      }
      var scale = drag.view.w / svg.getBoundingClientRect().width;
      self.setView({ x: drag.view.x - dx * scale, y: drag.view.y - dy * scale, w: drag.view.w, h: drag.view.h });
    });
    function end(event) {
      if (!drag) return;
      var moved = drag.moved;
      drag = null;
      svg.classList.remove("panning");
      if (moved || event.type === "pointercancel") return;
      var target = event.target.closest ? event.target.closest(".node") : null;
      if (target && target.__node) self.activate(target.__node);
    }
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", end);

    this.section.querySelectorAll("[data-graph-zoom]").forEach(function (button) {
      button.addEventListener("click", function () {
        var how = button.getAttribute("data-graph-zoom");
        if (how === "fit") self.fit();
        else self.zoom(how === "in" ? 1 / 1.25 : 1.25);
      });
    });

    if (typeof ResizeObserver === "function") {
      new ResizeObserver(function () { self.keepAspect(); }).observe(svg);
    }
  };

  function start() {
    document.querySelectorAll("[data-lineage-graph]").forEach(function (section) { new Graph(section); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
