// Every entity kind the dashboard shows: where it lives in the API, its event name, its
// list columns, and the forms and actions an operator has on it.
import { bytes, h, statusBadge, when } from "./dom.js";

const text = (name) => ({ label: name.replaceAll("_", " "), value: (e) => e[name] ?? "" });
const status = { label: "status", value: (e) => statusBadge(e.status) };
const updated = { label: "updated", value: (e) => when(e.last_updated) };

export const KINDS = {
  images: {
    title: "Container images",
    noun: "image",
    path: "/api/container-images",
    entity: "container_image",
    statuses: ["building", "built", "failed"],
    columns: [text("name"), text("tag"), text("application"), status, { label: "size", value: (e) => bytes(e.size) }, updated],
    create: {
      label: "Build image",
      fields: [
        { name: "name", label: "name", placeholder: "todo/backend", required: true },
        { name: "tag", label: "tag", value: "1.0.0", required: true },
        { name: "application", label: "application", options: ["backend", "frontend"] },
        { name: "context", label: "build context", placeholder: "hello-server", required: true },
        { name: "dockerfile", label: "Dockerfile", value: "Dockerfile" },
      ],
      body: (v) => ({
        name: v.name,
        tag: v.tag,
        application: v.application,
        build: { context: v.context, dockerfile: v.dockerfile || "Dockerfile" },
      }),
    },
    actions: (e) => [
      { label: "Verify", run: (api) => api.post(`/api/container-images/${e.id}/verify`) },
      { label: "Delete", danger: true, run: (api) => api.remove(`/api/container-images/${e.id}`) },
    ],
  },
  charts: {
    title: "Helm charts",
    noun: "chart",
    path: "/api/helm-charts",
    entity: "helm_chart",
    statuses: ["validating", "valid", "invalid"],
    columns: [text("name"), text("version"), text("namespace"), status,
      { label: "findings", value: (e) => (e.findings || []).length }, updated],
    create: {
      label: "Validate chart",
      fields: [
        { name: "name", label: "name", placeholder: "slipway", required: true },
        { name: "version", label: "version", value: "0.1.0", required: true },
        { name: "app_version", label: "app version", value: "0.1.0", required: true },
        { name: "namespace", label: "namespace", value: "default" },
        { name: "path", label: "chart directory", placeholder: "slipway", required: true },
      ],
      body: (v) => ({
        name: v.name, version: v.version, app_version: v.app_version,
        namespace: v.namespace || "default", source: { path: v.path },
      }),
    },
    actions: (e) => [
      { label: "Validate again", run: (api) => api.post(`/api/helm-charts/${e.id}/validate`) },
      { label: "Delete", danger: true, run: (api) => api.remove(`/api/helm-charts/${e.id}`) },
    ],
  },
  clusters: {
    title: "Clusters",
    noun: "cluster",
    path: "/api/minikube-clusters",
    entity: "minikube_cluster",
    statuses: ["running", "stopped", "error"],
    columns: [text("name"), text("driver"), status, text("kubernetes_version"),
      { label: "operation", value: (e) => (e.operation ? e.operation.action : "") }, updated],
    create: {
      label: "Create cluster",
      fields: [
        { name: "name", label: "name", placeholder: "dev", required: true },
        { name: "driver", label: "driver", options: ["sim", "minikube"] },
        { name: "cpus", label: "cpus", value: "1", type: "number" },
        { name: "memory", label: "memory (MB)", value: "1024", type: "number" },
        { name: "disk_size", label: "disk (MB)", value: "2000", type: "number" },
      ],
      body: (v) => ({
        name: v.name, driver: v.driver, cpus: Number(v.cpus),
        memory: Number(v.memory), disk_size: Number(v.disk_size), start: true,
      }),
    },
    actions: (e) => [
      e.status !== "running" && { label: "Start", run: (api) => api.post(`/api/minikube-clusters/${e.id}/start`) },
      e.status === "running" && { label: "Stop", run: (api) => api.post(`/api/minikube-clusters/${e.id}/stop`) },
      { label: "Restart", run: (api) => api.post(`/api/minikube-clusters/${e.id}/restart`) },
      { label: "Delete", danger: true, run: (api) => api.remove(`/api/minikube-clusters/${e.id}`) },
    ].filter(Boolean),
  },
  deployments: {
    title: "Deployments",
    noun: "deployment",
    path: "/api/deployments",
    entity: "deployment",
    statuses: ["pending", "running", "updating", "failed"],
    columns: [text("name"), text("namespace"), text("image"), status,
      { label: "ready", value: (e) => `${e.ready_replicas ?? 0}/${e.replicas}` }, updated],
    create: {
      label: "Deploy",
      fields: [
        { name: "name", label: "name", placeholder: "backend", required: true },
        { name: "namespace", label: "namespace", value: "default" },
        { name: "cluster_id", label: "cluster", choices: { path: "/api/minikube-clusters", status: "running" } },
        { name: "image_id", label: "image", choices: { path: "/api/container-images", status: "built", show: (i) => `${i.name}:${i.tag}` } },
        { name: "replicas", label: "replicas", value: "1", type: "number" },
        { name: "container_port", label: "container port", value: "8080", type: "number" },
      ],
      body: (v) => ({
        name: v.name, namespace: v.namespace || "default", cluster_id: v.cluster_id,
        image_id: v.image_id, replicas: Number(v.replicas), container_port: Number(v.container_port),
      }),
    },
    actions: (e) => [
      { label: "Scale", input: { name: "replicas", type: "number", value: e.replicas },
        run: (api, replicas) => api.post(`/api/deployments/${e.id}/scale`, { replicas: Number(replicas) }) },
      { label: "Delete", danger: true, run: (api) => api.remove(`/api/deployments/${e.id}`) },
    ],
  },
  services: {
    title: "Services",
    noun: "service",
    path: "/api/services",
    entity: "service",
    statuses: ["pending", "active", "failed"],
    columns: [text("name"), text("namespace"), text("type"),
      { label: "port", value: (e) => `${e.port} → ${e.target_port}/${e.protocol}` }, status, updated],
    create: {
      label: "Expose",
      fields: [
        { name: "name", label: "name", placeholder: "backend", required: true },
        { name: "namespace", label: "namespace", value: "default" },
        { name: "deployment_id", label: "deployment", choices: { path: "/api/deployments", status: "running" } },
        { name: "type", label: "type", options: ["ClusterIP", "NodePort", "LoadBalancer"] },
        { name: "port", label: "port", value: "80", type: "number" },
        { name: "target_port", label: "target port", value: "8080", type: "number" },
      ],
      body: (v) => ({
        name: v.name, namespace: v.namespace || "default", deployment_id: v.deployment_id,
        type: v.type, port: Number(v.port), target_port: Number(v.target_port), protocol: "TCP",
      }),
    },
    actions: (e) => [
      { label: "Delete", danger: true, run: (api) => api.remove(`/api/services/${e.id}`) },
    ],
  },
  releases: {
    title: "Releases",
    noun: "release",
    path: "/api/releases",
    entity: "release",
    statuses: ["pending", "deployed", "updating", "failed", "uninstalled"],
    columns: [text("name"), text("namespace"), status,
      { label: "helm revision", value: (e) => e.helm_revision ?? "" }, updated],
    create: {
      label: "Install release",
      fields: [
        { name: "name", label: "name", placeholder: "todo", required: true },
        { name: "namespace", label: "namespace", value: "default" },
        { name: "cluster_id", label: "cluster", choices: { path: "/api/minikube-clusters", status: "running" } },
        { name: "chart_id", label: "chart", choices: { path: "/api/helm-charts", status: "valid", show: (c) => `${c.name} ${c.version}` } },
      ],
      body: (v) => ({ name: v.name, namespace: v.namespace || "default", cluster_id: v.cluster_id, chart_id: v.chart_id }),
    },
    actions: (e) => [
      { label: "Roll back", input: { name: "revision", type: "number", value: Math.max(1, (e.helm_revision || 2) - 1) },
        run: (api, revision) => api.post(`/api/releases/${e.id}/rollback`, { revision: Number(revision) }) },
      { label: "Delete", danger: true, run: (api) => api.remove(`/api/releases/${e.id}`) },
    ],
  },
};

// The kind whose events carry this entity name (`container_image` -> "images").
export const KIND_OF_ENTITY = Object.fromEntries(Object.entries(KINDS).map(([k, v]) => [v.entity, k]));

export function entityLink(kind, id, label) {
  return h("a", { href: `#/${kind}/${encodeURIComponent(id)}` }, label || id);
}
