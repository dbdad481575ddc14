/**
 * marathon-lb's per-service-port templates: pieces of haproxy.cfg with `{name}` fields
 * (`{{` and `}}` stand for braces), each overridable by an app with the label
 * `HAPROXY_{n}_<TEMPLATE>` (e.g. `HAPROXY_0_BACKEND_HEAD`). The defaults below are what
 * the balancer writes without labels. A template is configuration by design: it is checked
 * here for size and for fields its place does not have, and the whole configuration with
 * it by `haproxy -c`; an app whose template haproxy rejects is left out and reported.
 */

/** Fields of the frontend and backend templates of a service port. */
const PORT_FIELDS = ["backend", "servicePort", "bindAddr", "sslCert", "bindOptions", "mode", "balance", "appId", "cleanedUpAppId"] as const;
/** Fields of the first health check of the app (marathon-lb's names). */
const HEALTH_FIELDS = [
  "healthCheckPortIndex",
  "healthCheckPort",
  "healthCheckProtocol",
  "healthCheckPath",
  "healthCheckTimeoutSeconds",
  "healthCheckIntervalSeconds",
  "healthCheckIgnoreHttp1xx",
  "healthCheckGracePeriodSeconds",
  "healthCheckMaxConsecutiveFailures",
  "healthCheckFalls",
  "healthCheckPortOptions",
] as const;
const SERVER_FIELDS = ["serverName", "host_ipv4", "port", "cookieOptions", "healthCheckOptions", "otherOptions"] as const;
const VHOST_FIELDS = ["hostname", "cleanedUpHostname", "path"] as const;

interface TemplateSpec {
  default: string;
  fields: readonly string[];
}

const HOST_ACL = "  acl host_{cleanedUpHostname} hdr(host),field(1,:) -i {hostname}\n";

export const TEMPLATES = {
  FRONTEND_HEAD: { default: "frontend {backend}\n  bind {bindAddr}:{servicePort}{sslCert}{bindOptions}\n  mode {mode}\n", fields: PORT_FIELDS },
  FRONTEND_BACKEND_GLUE: { default: "  use_backend {backend}\n", fields: PORT_FIELDS },
  BACKEND_HEAD: { default: "backend {backend}\n  balance {balance}\n  mode {mode}\n", fields: PORT_FIELDS },
  BACKEND_HTTP_OPTIONS: { default: "  option forwardfor\n  http-request set-header X-Forwarded-Port %[dst_port]\n", fields: PORT_FIELDS },
  BACKEND_STICKY_OPTIONS: { default: "  cookie mesosphere_server_id insert indirect nocache\n", fields: PORT_FIELDS },
  BACKEND_HTTP_HEALTHCHECK_OPTIONS: { default: "", fields: [...PORT_FIELDS, ...HEALTH_FIELDS] },
  BACKEND_TCP_HEALTHCHECK_OPTIONS: { default: "", fields: [...PORT_FIELDS, ...HEALTH_FIELDS] },
  BACKEND_SERVER_OPTIONS: { default: "  server {serverName} {host_ipv4}:{port}{cookieOptions}{healthCheckOptions}{otherOptions}\n", fields: [...PORT_FIELDS, ...SERVER_FIELDS] },
  BACKEND_SERVER_HTTP_HEALTHCHECK_OPTIONS: { default: "", fields: [...PORT_FIELDS, ...HEALTH_FIELDS, "serverName"] },
  BACKEND_SERVER_TCP_HEALTHCHECK_OPTIONS: { default: "", fields: [...PORT_FIELDS, ...HEALTH_FIELDS, "serverName"] },
  HTTP_FRONTEND_ACL: { default: `${HOST_ACL}  use_backend {backend} if host_{cleanedUpHostname}\n`, fields: [...PORT_FIELDS, ...VHOST_FIELDS] },
  HTTP_FRONTEND_ACL_WITH_PATH: {
    default: `${HOST_ACL}  acl path_{backend} path_beg {path}\n  use_backend {backend} if host_{cleanedUpHostname} path_{backend}\n`,
    fields: [...PORT_FIELDS, ...VHOST_FIELDS],
  },
  HTTP_FRONTEND_ACL_ONLY: { default: HOST_ACL, fields: [...PORT_FIELDS, ...VHOST_FIELDS] },
  HTTP_FRONTEND_ACL_ONLY_WITH_PATH: { default: "  acl path_{backend} path_beg {path}\n", fields: [...PORT_FIELDS, ...VHOST_FIELDS] },
  HTTP_FRONTEND_ROUTING_ONLY: { default: "  use_backend {backend} if host_{cleanedUpHostname}\n", fields: [...PORT_FIELDS, ...VHOST_FIELDS] },
  HTTP_FRONTEND_ROUTING_ONLY_WITH_PATH: { default: "  use_backend {backend} if host_{cleanedUpHostname} path_{backend}\n", fields: [...PORT_FIELDS, ...VHOST_FIELDS] },
  BACKEND_REDIRECT_HTTP_TO_HTTPS: { default: "  redirect scheme https code 301 if !{{ ssl_fc }} host_{cleanedUpHostname}\n", fields: [...PORT_FIELDS, ...VHOST_FIELDS] },
  HTTPS_FRONTEND_ACL: { default: "  use_backend {backend} if {{ ssl_fc_sni {hostname} }}\n", fields: [...PORT_FIELDS, ...VHOST_FIELDS] },
  HTTPS_FRONTEND_ACL_ONLY_WITH_PATH: { default: "  acl path_{backend} path_beg {path}\n", fields: [...PORT_FIELDS, ...VHOST_FIELDS] },
  HTTPS_FRONTEND_ACL_WITH_PATH: { default: "  use_backend {backend} if {{ ssl_fc_sni {hostname} }} path_{backend}\n", fields: [...PORT_FIELDS, ...VHOST_FIELDS] },
  BACKEND_REDIRECT_HTTP_TO_HTTPS_WITH_PATH: {
    default: "  redirect scheme https code 301 if !{{ ssl_fc }} host_{cleanedUpHostname} path_{backend}\n",
    fields: [...PORT_FIELDS, ...VHOST_FIELDS],
  },
} satisfies Record<string, TemplateSpec>;

export type TemplateName = keyof typeof TEMPLATES;

export function isTemplateName(name: string): name is TemplateName {
  return Object.hasOwn(TEMPLATES, name);
}

/** Largest template accepted from a label. */
export const MAX_TEMPLATE_BYTES = 16 * 1024;

/** The fields a template uses, or an error naming what is wrong. */
function fieldsOf(text: string): { fields: string[] } | { error: string } {
  const fields: string[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "{") {
      if (text[i + 1] === "{") {
        i++;
        continue;
      }
      const end = text.indexOf("}", i);
      if (end === -1) return { error: `an unclosed '{' at character ${i}` };
      const name = text.slice(i + 1, end);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return { error: `'{${name}}' is not a field (write '{{' for a brace)` };
      fields.push(name);
      i = end;
    } else if (c === "}") {
      if (text[i + 1] !== "}") return { error: `a lone '}' at character ${i} (write '}}' for a brace)` };
      i++;
    }
  }
  return { fields };
}

/** What is wrong with a template given by a label for `name`, or undefined. */
export function templateProblem(name: TemplateName, text: string): string | undefined {
  if (Buffer.byteLength(text) > MAX_TEMPLATE_BYTES) return `is longer than ${MAX_TEMPLATE_BYTES} bytes`;
  if (text.includes("\0")) return "contains a NUL character";
  const found = fieldsOf(text);
  if ("error" in found) return `has ${found.error}`;
  const allowed = new Set<string>(TEMPLATES[name].fields);
  const unknown = found.fields.filter((f) => !allowed.has(f));
  if (unknown.length > 0) return `uses ${unknown.map((f) => `{${f}}`).join(", ")}, which ${name} does not have (it has ${[...allowed].map((f) => `{${f}}`).join(", ")})`;
  return undefined;
}

/** Fills a (checked) template: `{name}` from values, `{{`/`}}` as braces; ends it with a newline unless inline. */
export function fill(text: string, values: Readonly<Record<string, string | number>>, inline = false): string {
  const out = text.replace(/\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, name: string | undefined) => {
    if (m === "{{") return "{";
    if (m === "}}") return "}";
    const v = values[name!];
    if (v === undefined) throw new Error(`template field {${name}} has no value here`);
    return String(v);
  });
  if (inline) return out.replace(/\n/g, "");
  return out === "" || out.endsWith("\n") ? out : `${out}\n`;
}
