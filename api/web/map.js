// Stadtpuls live map. Draws a city's zones, parking facilities and traffic sensors from
// the API (GET /v1/cities/{city}/geometry, …/parking, …/traffic) and keeps them current
// from the push stream (GET /v1/stream) without reloading. Every colour comes with a word:
// the guidance status of a facility, the MARZ state (Z1–Z4) of a sensor.
//
// For the browser test (tests/e2e_map.rs) the DOM carries the raw API values: each list
// button has data-key and data-updated (a facility's updated_at, a sensor's window_end),
// each number in the side panel data-field and data-value.
"use strict";

const STATUS_WORDS = {
  spacesAvailable: "spaces available",
  almostFull: "almost full",
  full: "full",
  closed: "closed",
};
const STATE_WORDS = { Z1: "free flow", Z2: "dense", Z3: "slow", Z4: "jam" };
// How far back a sensor's sparkline reaches (the live API keeps api.live_retention).
const SPARK_HOURS = 3;
// Points kept per facility for its sparkline, collected from the stream while the page is open.
const FACILITY_POINTS = 720;

const app = {
  cities: [], // GET /v1/cities
  regions: [], // GET /v1/regions, when the server has it
  window: null, // the traffic window family shown (the API's default: the smallest)
  entities: new Map(), // data-key → entity
  selected: null,
  multiCity: false,
  stream: null,
  view: null,
};

const map = L.map("map", { zoomSnap: 0.25 });
map.setView([48.7, 9.0], 7);
const zoneLayer = L.layerGroup().addTo(map);
const pointLayer = L.layerGroup().addTo(map);
const cityLayer = L.layerGroup().addTo(map);

// ---- small helpers -------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

// An API key (Authorization: Bearer) shows the cities it may see beyond the open ones. It
// is kept for this tab only (sessionStorage), never in a URL.
const KEY_ITEM = "stadtpuls-api-key";

function authHeaders(headers) {
  const key = sessionStorage.getItem(KEY_ITEM);
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

async function getJson(url) {
  const response = await fetch(url, { headers: authHeaders({ Accept: "application/json" }) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

function fmt(value, unit = "") {
  if (value === null || value === undefined) return "–";
  return unit ? `${value} ${unit}` : `${value}`;
}

function timeOf(rfc3339) {
  return rfc3339 ? new Date(rfc3339).toLocaleTimeString() : "–";
}

function setLive(text, eventId) {
  const live = document.getElementById("live");
  live.textContent = text;
  if (eventId) live.dataset.lastEventId = eventId;
}

// ---- what an entity looks like --------------------------------------------------------------

function facilityWords(d) {
  if (!d || d.free === null || d.free === undefined) return "no data";
  const status = d.stale ? "stale" : STATUS_WORDS[d.status] || "no status";
  const total = d.total !== null && d.total !== undefined ? ` of ${d.total}` : "";
  return `${d.free}${total} free · ${status}`;
}

function occupancyClass(pct) {
  if (pct === null || pct === undefined) return "occ-none";
  if (pct < 50) return "occ-low";
  if (pct < 80) return "occ-mid";
  if (pct < 95) return "occ-high";
  return "occ-full";
}

function facilityBadge(d) {
  const status = !d || d.stale ? "st-stale" : `st-${d.status || "none"}`;
  return el("span", { class: `fac ${occupancyClass(d && d.occupancy_pct)} ${status}`, "aria-hidden": "true" }, "P");
}

function sensorWords(d) {
  if (!d || !d.window_end) return "no window yet";
  const state = d.traffic_state ? `${d.traffic_state} ${STATE_WORDS[d.traffic_state] || ""}` : "no state";
  return `${state} · ${fmt(d.flow_veh_h, "veh/h")} · ${fmt(d.speed_space_mean_kmh, "km/h")}`;
}

function sensorBadge(d) {
  const state = d && d.traffic_state;
  return el("span", { class: `sen ${state ? `z-${state}` : "z-none"}`, "aria-hidden": "true" }, state || "–");
}

function badge(entity) {
  return entity.kind === "parking" ? facilityBadge(entity.data) : sensorBadge(entity.data);
}

function words(entity) {
  return entity.kind === "parking" ? facilityWords(entity.data) : sensorWords(entity.data);
}

function updatedAt(entity) {
  const d = entity.data || {};
  return (entity.kind === "parking" ? d.updated_at : d.window_end) || "";
}

// ---- drawing ------------------------------------------------------------------------------

function drawMarker(entity) {
  const icon = L.divIcon({ className: "", html: badge(entity).outerHTML, iconSize: [24, 22] });
  if (!entity.marker) {
    // Not a tab stop: the list beside the map is the keyboard's way in.
    entity.marker = L.marker([entity.lat, entity.lon], { icon, keyboard: false, title: entity.name })
      .on("click", () => select(entity.key))
      .addTo(pointLayer);
  } else {
    entity.marker.setIcon(icon);
  }
  if (app.selected === entity.key) L.DomUtil.addClass(entity.marker.getElement(), "selected");
}

function drawListItem(entity) {
  if (!entity.button) return;
  entity.button.replaceChildren(
    badge(entity),
    el("span", {}, el("span", { class: "name" }, listName(entity)), el("br"), el("span", { class: "summary" }, words(entity))),
  );
  entity.button.dataset.updated = updatedAt(entity);
  entity.button.setAttribute("aria-label", `${entity.kind === "parking" ? "Parking" : "Traffic sensor"} ${entity.name}: ${words(entity)}`);
}

// In a view of several cities a name says its city too.
function listName(entity) {
  return app.multiCity ? `${entity.name} (${cityName(entity.city)})` : entity.name;
}

function redraw(entity) {
  drawMarker(entity);
  drawListItem(entity);
  if (app.selected === entity.key) renderDetails(entity);
  if (app.multiCity) scheduleCitySummaries();
}

// In a view of several cities (all, a region) each city gets a label with its totals: the
// free spaces of its reporting facilities and its sensors per MARZ state.
function citySummary(city) {
  const members = [...app.entities.values()].filter((e) => e.city === city);
  let free = 0;
  let total = 0;
  const states = {};
  for (const e of members) {
    const d = e.data || {};
    if (e.kind === "parking" && !d.stale && typeof d.free === "number") {
      free += d.free;
      total += d.total || 0;
    } else if (e.kind === "traffic") {
      const state = d.traffic_state || "–";
      states[state] = (states[state] || 0) + 1;
    }
  }
  const traffic = Object.keys(states)
    .sort()
    .map((state) => `${states[state]}× ${state}`)
    .join(" ");
  const parking = total ? `${free} free` : "";
  return { members, text: [cityName(city), parking, traffic].filter(Boolean).join(" · ") };
}

function drawCitySummaries() {
  cityLayer.clearLayers();
  if (!app.multiCity) return;
  for (const city of new Set([...app.entities.values()].map((e) => e.city))) {
    const { members, text } = citySummary(city);
    const lat = Math.max(...members.map((e) => e.lat));
    const lon = members.reduce((sum, e) => sum + e.lon, 0) / members.length;
    const label = L.tooltip({ permanent: true, direction: "top", className: "city-label" })
      .setLatLng([lat, lon])
      .setContent(document.createTextNode(text));
    cityLayer.addLayer(label);
  }
}

let summaryTimer = null;
function scheduleCitySummaries() {
  if (summaryTimer) return;
  summaryTimer = setTimeout(() => {
    summaryTimer = null;
    drawCitySummaries();
  }, 1000);
}

function drawZones(features) {
  L.geoJSON(features, {
    style: (f) =>
      f.properties.kind === "parking_zone"
        ? { color: "#2166ac", weight: 2, dashArray: "6 4", fillOpacity: 0.05 }
        : { color: "#666", weight: 1.5, fillColor: "#bbb", fillOpacity: 0.12 },
    onEachFeature: (f, layer) => {
      const kind = f.properties.kind === "parking_zone" ? "parking zone" : "district";
      layer.bindTooltip(document.createTextNode(`${f.properties.name} (${kind})`), { sticky: true });
    },
  }).addTo(zoneLayer);
}

// ---- the side panel -----------------------------------------------------------------------

const FACILITY_FIELDS = [
  ["free", "Free", "spaces"],
  ["total", "Capacity", "spaces"],
  ["occupied", "Occupied", "spaces"],
  ["occupancy_pct", "Occupancy", "%"],
  ["status", "Status", ""],
  ["trend", "Trend", ""],
  ["trend_pct_per_h", "Trend", "%/h"],
  ["updated_at", "Updated", ""],
];
const SENSOR_FIELDS = [
  ["traffic_state", "State (MARZ)", ""],
  ["flow_veh_h", "Flow", "veh/h"],
  ["speed_space_mean_kmh", "Speed (space mean)", "km/h"],
  ["density_veh_km", "Density", "veh/km"],
  ["occupancy_pct", "Occupancy", "%"],
  ["completeness_pct", "Completeness", "%"],
  ["window_end", "Window end", ""],
];

function shown(field, value) {
  if (value === null || value === undefined) return "–";
  if (field === "status") return STATUS_WORDS[value] || value;
  if (field === "traffic_state") return `${value} ${STATE_WORDS[value] || ""}`;
  if (field === "updated_at" || field === "window_end") return timeOf(value);
  return `${value}`;
}

function renderDetails(entity) {
  const d = entity.data || {};
  const fields = entity.kind === "parking" ? FACILITY_FIELDS : SENSOR_FIELDS;
  const list = el("dl", { class: "numbers" });
  for (const [field, label, unit] of fields) {
    const value = d[field];
    const raw = value === null || value === undefined ? "" : `${value}`;
    list.append(
      el("dt", {}, unit ? `${label} (${unit})` : label),
      el("dd", { "data-field": field, "data-value": raw }, shown(field, value)),
    );
  }
  const kindWord = entity.kind === "parking" ? "Parking facility" : "Traffic sensor";
  const stale = entity.kind === "parking" && d.stale ? el("p", {}, "Stale: no update within parking.stale_after.") : "";
  const section = document.getElementById("details");
  section.dataset.key = entity.key;
  section.replaceChildren(
    el("h2", { id: "details-heading" }, entity.name),
    el("p", {}, `${kindWord} ${entity.id}, ${cityName(entity.city)}${entity.kind === "traffic" ? `, ${app.window} windows` : ""}`),
    list,
    stale,
    sparkline(entity),
  );
}

// A small inline SVG of the recent values, with its range in words.
function sparkline(entity) {
  const points = entity.history.filter((p) => p.v !== null && p.v !== undefined);
  const what = entity.kind === "parking" ? "occupancy %" : "flow veh/h";
  const since = entity.kind === "parking" && !entity.fromHistory ? "since this page opened" : `last ${SPARK_HOURS} h`;
  if (points.length < 2) return el("p", { class: "spark-text" }, `Not enough ${what} values yet for a sparkline (${since}).`);
  const w = 320, h = 56, pad = 3;
  const t0 = points[0].t, t1 = points[points.length - 1].t;
  const vs = points.map((p) => p.v);
  const lo = Math.min(...vs), hi = Math.max(...vs);
  const x = (t) => pad + ((t - t0) / Math.max(1, t1 - t0)) * (w - 2 * pad);
  const y = (v) => h - pad - ((v - lo) / Math.max(1e-9, hi - lo)) * (h - 2 * pad);
  const svgNs = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNs, "svg");
  const text = `${what} ${since}: ${points.length} values from ${lo} to ${hi}, latest ${vs[vs.length - 1]}`;
  for (const [name, value] of Object.entries({ class: "spark", width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": text })) {
    svg.setAttribute(name, value);
  }
  const line = document.createElementNS(svgNs, "polyline");
  line.setAttribute("points", points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" "));
  svg.append(line);
  return el("figure", {}, svg, el("figcaption", {}, text));
}

function remember(entity) {
  const d = entity.data || {};
  if (entity.kind === "parking") {
    if (!d.updated_at) return;
    const t = Date.parse(d.updated_at);
    const last = entity.history[entity.history.length - 1];
    if (last && last.t >= t) return;
    entity.history.push({ t, v: d.occupancy_pct });
    if (entity.history.length > FACILITY_POINTS) entity.history.shift();
  } else {
    if (!d.window_end) return;
    const t = Date.parse(d.window_end);
    entity.history = entity.history.filter((p) => p.t !== t);
    entity.history.push({ t, v: d.flow_veh_h });
    const oldest = Date.now() - SPARK_HOURS * 3600e3;
    while (entity.history.length && entity.history[0].t < oldest) entity.history.shift();
  }
}

// A sensor's recent windows from the live API, for its sparkline.
async function loadSensorHistory(entity) {
  const from = new Date(Date.now() - SPARK_HOURS * 3600e3).toISOString();
  const params = new URLSearchParams({ window: app.window, from });
  try {
    const body = await getJson(`/v1/cities/${enc(entity.city)}/traffic/${enc(entity.id)}?${params}`);
    const past = body.windows.map((w) => ({ t: Date.parse(w.window_end), v: w.flow_veh_h }));
    const newer = entity.history.filter((p) => past.length === 0 || p.t > past[past.length - 1].t);
    entity.history = past.concat(newer);
  } catch (e) {
    console.warn(e);
  }
}

// A facility's occupancy over the last hours in 5-minute buckets from the history route
// (GET /v1/cities/{city}/parking/{facility}/history), where the server has one; the live
// view keeps only a facility's current level, so without it the sparkline shows what the
// stream brought since the page was opened.
async function loadFacilityHistory(entity) {
  const from = new Date(Date.now() - SPARK_HOURS * 3600e3).toISOString();
  const params = new URLSearchParams({ from, bucket: "5m", agg: "avg" });
  try {
    const body = await getJson(`/v1/cities/${enc(entity.city)}/parking/${enc(entity.id)}/history?${params}`);
    const past = (body.buckets || []).map((b) => ({ t: Date.parse(b.end), v: b.occupancy_pct }));
    if (past.length === 0) return;
    const newer = entity.history.filter((p) => p.t > past[past.length - 1].t);
    entity.history = past.concat(newer);
    entity.fromHistory = true;
  } catch (e) {
    // No history route, or nothing kept: the page's own points.
  }
}

function enc(s) {
  return encodeURIComponent(s);
}

async function select(key) {
  const entity = app.entities.get(key);
  if (!entity) return;
  const previous = app.entities.get(app.selected);
  if (previous) {
    if (previous.button) previous.button.removeAttribute("aria-current");
    if (previous.marker && previous.marker.getElement()) L.DomUtil.removeClass(previous.marker.getElement(), "selected");
  }
  app.selected = key;
  if (entity.button) entity.button.setAttribute("aria-current", "true");
  if (entity.marker.getElement()) L.DomUtil.addClass(entity.marker.getElement(), "selected");
  map.panTo([entity.lat, entity.lon]);
  renderDetails(entity);
  await (entity.kind === "traffic" ? loadSensorHistory(entity) : loadFacilityHistory(entity));
  if (app.selected === key) renderDetails(entity);
}

// ---- the list: one button per entity, arrow keys move, Enter selects -------------------------

function renderList() {
  const box = document.getElementById("entities");
  const groups = [
    ["parking", "Parking facilities"],
    ["traffic", "Traffic sensors"],
  ];
  app.multiCity = new Set([...app.entities.values()].map((e) => e.city)).size > 1;
  const parts = [];
  for (const [kind, title] of groups) {
    const members = [...app.entities.values()].filter((e) => e.kind === kind);
    if (members.length === 0) continue;
    const list = el("ul", { "aria-label": title });
    for (const entity of members) {
      const button = el("button", { type: "button", "data-key": entity.key, "data-kind": kind, "data-id": entity.id, "data-city": entity.city });
      button.addEventListener("click", () => select(entity.key));
      entity.button = button;
      drawListItem(entity);
      list.append(el("li", {}, button));
    }
    parts.push(el("h3", {}, `${title} (${members.length})`), list);
  }
  if (parts.length === 0) parts.push(el("p", {}, "Nothing this view may show."));
  box.replaceChildren(...parts);
}

document.getElementById("entities").addEventListener("keydown", (event) => {
  const buttons = [...document.querySelectorAll("#entities button")];
  const at = buttons.indexOf(document.activeElement);
  if (at < 0) return;
  const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: buttons.length - 1 }[event.key];
  if (to === undefined) return;
  event.preventDefault();
  buttons[Math.max(0, Math.min(buttons.length - 1, to))].focus();
});

// ---- views: all cities, a region, one city ---------------------------------------------------

function cityName(id) {
  const city = app.cities.find((c) => c.id === id);
  return city ? city.name : id;
}

function citiesOf(view) {
  if (view.startsWith("region:")) {
    const region = app.regions.find((r) => `region:${r.id}` === view);
    return region ? region.cities.filter((id) => app.cities.some((c) => c.id === id)) : [];
  }
  if (view === "all") return app.cities.map((c) => c.id);
  return app.cities.some((c) => c.id === view) ? [view] : [];
}

async function loadCity(city) {
  const none = () => null;
  const [geometry, parking, traffic] = await Promise.all([
    getJson(`/v1/cities/${enc(city)}/geometry`),
    getJson(`/v1/cities/${enc(city)}/parking`).catch(none),
    getJson(`/v1/cities/${enc(city)}/traffic${app.window ? `?window=${enc(app.window)}` : ""}`).catch(none),
  ]);
  if (traffic && !app.window) app.window = traffic.window;
  const levels = new Map(((parking && parking.facilities) || []).map((f) => [f.facility_id, f]));
  const windows = new Map(((traffic && traffic.sensors) || []).map((s) => [s.sensor_id, s]));
  drawZones(geometry.features.filter((f) => f.properties.layer === "zone"));
  for (const f of geometry.features) {
    const layer = f.properties.layer;
    if (layer !== "parking_facility" && layer !== "traffic_sensor") continue;
    const kind = layer === "parking_facility" ? "parking" : "traffic";
    const id = f.properties.id;
    const entity = {
      key: `${kind}:${city}:${id}`,
      kind,
      city,
      id,
      name: f.properties.name || id,
      lon: f.geometry.coordinates[0],
      lat: f.geometry.coordinates[1],
      data: (kind === "parking" ? levels.get(id) : windows.get(id)) || null,
      history: [],
    };
    remember(entity);
    app.entities.set(entity.key, entity);
  }
}

async function showView(view) {
  app.view = view;
  app.selected = null;
  app.entities.clear();
  zoneLayer.clearLayers();
  pointLayer.clearLayers();
  cityLayer.clearLayers();
  document.getElementById("details").replaceChildren(
    el("h2", { id: "details-heading" }, "Nothing selected"),
    el("p", { class: "hint" }, "Choose a facility or sensor on the map or in the list below (Tab to the list, arrow keys to move, Enter to select)."),
  );
  const cities = citiesOf(view);
  setLive("loading…");
  // The first city fixes the traffic window family (the API's default); the rest follow.
  if (cities.length) await loadCity(cities[0]).catch((e) => console.warn(e));
  await Promise.all(cities.slice(1).map((c) => loadCity(c).catch((e) => console.warn(e))));
  if (app.view !== view) return;
  for (const entity of app.entities.values()) drawMarker(entity);
  renderList();
  drawCitySummaries();
  const bounds = L.featureGroup([...zoneLayer.getLayers(), ...pointLayer.getLayers()]).getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [20, 20] });
  connect(view === "all" ? null : cities);
  document.body.dataset.view = view;
}

// ---- the push stream -----------------------------------------------------------------------

function connect(cities) {
  if (app.stream) app.stream.close();
  app.stream = null;
  const params = new URLSearchParams({ kinds: "traffic,parking,feed" });
  if (app.window) params.set("window", app.window);
  if (cities) {
    if (cities.length === 0) return setLive("no city in this view");
    params.set("cities", cities.join(","));
  }
  app.stream = new Stream(`/v1/stream?${params}`, authHeaders, {
    open: () => setLive("live"),
    error: () => setLive("reconnecting…"),
    parking: (e, id) => {
      const entity = app.entities.get(`parking:${e.city}:${e.facility_id}`);
      if (!entity) return;
      entity.data = Object.assign({}, entity.data, e, { stale: false });
      remember(entity);
      redraw(entity);
      setLive(`live · ${timeOf(e.updated_at)}`, id);
    },
    traffic: (e, id) => {
      const entity = app.entities.get(`traffic:${e.city}:${e.sensor_id}`);
      if (!entity || e.window !== app.window) return;
      // A revision of an older window (late rows) does not replace the newest.
      if (entity.data && entity.data.window_end && e.window_end < entity.data.window_end) return;
      entity.data = e;
      remember(entity);
      redraw(entity);
      setLive(`live · ${timeOf(e.window_end)}`, id);
    },
    feed: (e, id) => setLive(`${cityName(e.city)} ${e.kind} feed ${e.state}`, id),
    // The resume point was older than the server's ring: reload the view's snapshot.
    missed: () => showView(app.view),
  });
}

// ---- start ---------------------------------------------------------------------------------

// Regions (`GET /v1/regions`): named groups of cities. A server without them answers 404 and
// the switcher offers all cities and each city.
async function loadRegions() {
  try {
    const body = await getJson("/v1/regions");
    return (body.regions || [])
      .map((r) => ({
        id: r.id,
        name: r.name || r.id,
        cities: (r.cities || []).map((c) => (typeof c === "string" ? c : c.id)),
      }))
      .filter((r) => r.id && r.cities.length);
  } catch (e) {
    return [];
  }
}

function setUpKeyForm() {
  const form = document.getElementById("key-form");
  const input = document.getElementById("key");
  const state = document.getElementById("key-state");
  state.textContent = sessionStorage.getItem(KEY_ITEM) ? "key in use" : "open data only";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (key) sessionStorage.setItem(KEY_ITEM, key);
    else sessionStorage.removeItem(KEY_ITEM);
    // The cities a key sees differ: start over with the new list.
    location.reload();
  });
}

async function start() {
  setUpKeyForm();
  const [settings, cities, regions] = await Promise.all([getJson("/map/settings.json"), getJson("/v1/cities"), loadRegions()]);
  if (settings.tile_url) {
    L.tileLayer(settings.tile_url, { attribution: settings.tile_attribution || "", maxZoom: 19 }).addTo(map);
  }
  app.cities = cities.cities;
  app.regions = regions;
  const select = document.getElementById("view");
  select.append(el("option", { value: "all" }, "All cities"));
  for (const r of regions) select.append(el("option", { value: `region:${r.id}` }, `Region: ${r.name}`));
  for (const c of app.cities) select.append(el("option", { value: c.id }, c.name));
  const wanted = decodeURIComponent(location.hash.slice(1));
  const view = [...select.options].some((o) => o.value === wanted) ? wanted : "all";
  select.value = view;
  select.addEventListener("change", () => {
    history.replaceState(null, "", `#${select.value}`);
    showView(select.value);
  });
  await showView(view);
}

start().catch((e) => {
  console.error(e);
  const hint = /HTTP 401/.test(e.message) ? " — this server needs an API key" : "";
  setLive(`cannot load the map: ${e.message}${hint}`);
});
