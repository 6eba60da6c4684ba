import { own } from "../core/own.ts";
import {
  type CountSpec,
  DOCKER_PULL_WITHIN_MS,
  type Limit,
  type Policy,
  type QuotaRule,
  type RefusalShape,
} from "./types.ts";

/**
 * Real registries' limits as data, each with its source (../shared/FACTS.md).
 * Numbers change over time: change them here, never in code.
 */

const H = 3_600_000;
const S = 1000;

const rolling = (limit: number, windowMs: number): Limit => ({
  limit,
  windowMs,
  algorithm: "rolling",
});
const fixedWindow = (limit: number, windowMs: number): Limit => ({
  limit,
  windowMs,
  algorithm: "fixed",
});
const perSecond = (limit: number, burst: number): Limit => ({
  limit,
  windowMs: S,
  algorithm: "gcra",
  burst,
});

/**
 * Docker Hub's pull: "up to two GET requests on registry manifest URLs" (the
 * index, then the platform manifest; seed 002), "one pull for each different
 * architecture" (docker/docs usage/pulls.md); HEADs free (types.ts CountAs).
 */
const DOCKER_PULL: CountSpec[] = [
  { kind: "manifest", method: "GET", cost: 1, as: "docker-pull", withinMs: DOCKER_PULL_WITHIN_MS },
  { kind: "manifest", method: "HEAD", cost: 0 },
];
const DOCKER_PULL_SOURCES = [
  "docker/docs content/manuals/docker-hub/usage/pulls.md (what counts: manifest GETs, one pull for each different architecture; HEADs not; headers)",
  "Docker resource-consumption FAQ (a multi-arch pull counts per architecture)",
];
const EVERYTHING: CountSpec[] = [{ kind: "*", method: "*", cost: 1 }];

/** An OCI TOOMANYREQUESTS refusal with the same message for anonymous and authenticated clients. */
const tooManyRequests = (message: string): RefusalShape => ({
  type: "oci",
  status: 429,
  code: "TOOMANYREQUESTS",
  anonymous: message,
  account: message,
});

const DOCKER_HUB_429: RefusalShape = {
  type: "oci",
  status: 429,
  code: "TOOMANYREQUESTS",
  anonymous:
    "You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit",
  account:
    "You have reached your pull rate limit as '{user}'. You may increase the limit by upgrading: https://www.docker.com/increase-rate-limit",
};

const DOCKER_HUB_429_NEWER: RefusalShape = {
  type: "oci",
  status: 429,
  code: "TOOMANYREQUESTS",
  anonymous:
    "You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit",
  account:
    "You have reached your pull rate limit as '{user}'. https://www.docker.com/increase-rate-limit",
};

/** docker/hub-feedback #1907: the per-IP abuse limit, plain text, Retry-After 60. */
const HAP429: QuotaRule = {
  name: "abuse",
  layer: "abuse",
  counts: EVERYTHING,
  anonymousBy: "ip",
  authenticatedBy: "ip",
  // "thousands of requests per minute": the exact number is not published.
  limits: { default: fixedWindow(3000, 60 * S) },
  headers: false,
  retryAfter: true,
  retryAfterSeconds: 60,
  refusal: { type: "text", status: 429, body: "429 Too Many Requests (HAP429).\n" },
  source: "docker/hub-feedback #1907 (threshold not published; 3000/min assumed)",
};

function dockerHub(
  name: string,
  description: string,
  limits: QuotaRule["limits"],
  refusal: RefusalShape,
  source: string,
): Policy {
  return {
    preset: name,
    description,
    rules: [
      HAP429,
      {
        name: "pulls",
        layer: "registry",
        counts: DOCKER_PULL,
        anonymousBy: "ip",
        authenticatedBy: "account",
        limits,
        headers: true,
        retryAfter: false,
        refusal,
        source,
      },
    ],
    lockout: { attempts: 10, windowMs: 10 * 60 * S, lockMs: 10 * 60 * S },
    tokenLimitParameters: true,
    sources: [
      source,
      ...DOCKER_PULL_SOURCES,
      "docker/hub-feedback #1907 (HAP429 abuse limit)",
      "docker/hub-feedback #2201 (failed-login lockout, ~10 minutes)",
    ],
  };
}

export const PRESETS: Record<string, Policy> = {
  "dockerhub-2020": dockerHub(
    "dockerhub-2020",
    "Docker Hub from Nov 2020 (the 2020 announcement): anonymous 100 / 6 h per IP (IPv6 /64), free 200 / 6 h per account, Pro and Team 50,000 / 24 h; a pull is an index GET with its platform manifest GET, one more per further architecture; HEADs and blobs free",
    {
      anonymous: rolling(100, 6 * H),
      free: rolling(200, 6 * H),
      personal: rolling(200, 6 * H),
      pro: rolling(50_000, 24 * H),
      team: rolling(50_000, 24 * H),
      business: "unlimited",
    },
    DOCKER_HUB_429,
    "Docker blog 'Scaling Docker to Serve Millions More Developers: Network Egress' (seed 002)",
  ),
  "dockerhub-2025-announced": dockerHub(
    "dockerhub-2025-announced",
    "Docker Hub limits announced Feb 2025 for April 2025 (announced, not enforced): anonymous 10 / h per IP, personal 100 / h; paid plans unlimited; pulls counted as Docker defines them",
    {
      anonymous: rolling(10, H),
      free: rolling(100, H),
      personal: rolling(100, H),
      pro: "unlimited",
      team: "unlimited",
      business: "unlimited",
    },
    DOCKER_HUB_429_NEWER,
    "Docker announcement, Feb 2025 (docker/docs usage pages of that time)",
  ),
  "dockerhub-current": dockerHub(
    "dockerhub-current",
    "Docker Hub as documented today (docker/docs usage pages): anonymous 100 / 6 h per IPv4 address or IPv6 /64, personal 200 / 6 h per account; Pro, Team and Business without a pull limit (no RateLimit headers); a pull is an index GET with its platform manifest GET, one more per further architecture",
    {
      anonymous: rolling(100, 6 * H),
      free: rolling(200, 6 * H),
      personal: rolling(200, 6 * H),
      pro: "unlimited",
      team: "unlimited",
      business: "unlimited",
    },
    DOCKER_HUB_429_NEWER,
    "docker/docs content/manuals/docker-hub/usage/_index.md and pulls.md (limits by plan; the Feb 2025 announcement was withdrawn before April 2025)",
  ),
  "ecr-public": {
    preset: "ecr-public",
    description:
      "Amazon ECR Public: unauthenticated 1 pull/s per IP, authenticated 10 pulls/s per account (500 GB/month unauthenticated data quota not modelled)",
    rules: [
      {
        name: "pulls",
        layer: "registry",
        counts: [{ kind: "manifest", method: "GET", cost: 1 }],
        anonymousBy: "ip",
        authenticatedBy: "account",
        limits: { anonymous: perSecond(1, 0), default: perSecond(10, 0) },
        headers: false,
        retryAfter: false,
        refusal: tooManyRequests("Rate exceeded"),
        source: "AWS ECR Public service quotas",
      },
    ],
    tokenLimitParameters: false,
    sources: [
      "AWS ECR Public service quotas (docs.aws.amazon.com/AmazonECR/latest/public/public-service-quotas.html)",
    ],
  },
  quay: {
    preset: "quay",
    description:
      "Quay.io nginx limit_req per IP: manifests 20 r/s burst 10, blobs 20 r/s burst 50, tags 1 r/s burst 2, auth 30 r/s burst 2, other /v2 30 r/s burst 20",
    rules: (
      [
        ["manifests", "manifest", 20, 10],
        ["blobs", "blob", 20, 50],
        ["tags", "tags", 1, 2],
        ["auth", "token", 30, 2],
        ["v2", "ping", 30, 20],
      ] as const
    ).map(
      ([name, kind, rate, burst]): QuotaRule => ({
        name,
        layer: kind === "token" ? "token" : "edge",
        counts: [{ kind, method: "*", cost: 1 }],
        anonymousBy: "ip",
        authenticatedBy: "ip",
        limits: { default: perSecond(rate, burst) },
        headers: false,
        retryAfter: false,
        refusal: {
          type: "html",
          status: 429,
          body: "<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n<center><h1>429 Too Many Requests</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
        },
        source: "quay/quay conf/nginx rate-limiting templates",
      }),
    ),
    tokenLimitParameters: false,
    sources: ["quay/quay conf/nginx/rate-limiting.conf.jnj and server-base.conf.jnj"],
  },
  ghcr: {
    preset: "ghcr",
    description:
      "GitHub Container Registry: no published limit; observed 'allowed: 44000/minute' per client",
    rules: [
      {
        name: "requests",
        layer: "registry",
        counts: EVERYTHING,
        anonymousBy: "ip",
        authenticatedBy: "account",
        limits: { default: fixedWindow(44_000, 60 * S) },
        headers: false,
        retryAfter: true,
        refusal: tooManyRequests("retry-after: {retryAt}, allowed: 44000/minute"),
        source: "observed error text (FACTS.md); no published limit",
      },
    ],
    tokenLimitParameters: false,
    sources: [
      "observed 'toomanyrequests: retry-after: ..., allowed: 44000/minute' (no published limit)",
    ],
  },
  "artifact-registry": {
    preset: "artifact-registry",
    description:
      "Google Artifact Registry: 60,000 requests per minute per region per project, every HTTP request of a pull counted",
    rules: [
      {
        name: "project-requests",
        layer: "registry",
        counts: EVERYTHING,
        anonymousBy: "global",
        authenticatedBy: "global",
        limits: { default: fixedWindow(60_000, 60 * S) },
        headers: false,
        retryAfter: false,
        refusal: tooManyRequests(
          "Quota exceeded for quota metric 'Requests' and limit 'Requests per project per region per minute'",
        ),
        source: "Artifact Registry quotas and limits",
      },
    ],
    tokenLimitParameters: false,
    sources: ["cloud.google.com/artifact-registry/quotas"],
  },
  "registry-k8s-io": {
    preset: "registry-k8s-io",
    description:
      "registry.k8s.io Cloud Armor: 429 past 5000 requests / 60 s per IP; past 10000 / 120 s a temporary ban",
    rules: [
      {
        name: "cloud-armor",
        layer: "edge",
        counts: EVERYTHING,
        anonymousBy: "ip",
        authenticatedBy: "ip",
        limits: { default: fixedWindow(5000, 60 * S) },
        headers: false,
        retryAfter: false,
        refusal: {
          type: "html",
          status: 429,
          body: '<!doctype html><meta charset="utf-8"><title>Too Many Requests</title><h1>429 Too Many Requests</h1>\n',
        },
        // The ban duration was not in the version read; 1800 s assumed.
        ban: { after: 10_000, windowMs: 120 * S, forMs: 1800 * S },
        source:
          "kubernetes/k8s.io infra/gcp/terraform/modules/oci-proxy/cloud-armor.tf (thresholds changed over time)",
      },
    ],
    tokenLimitParameters: false,
    sources: ["kubernetes/k8s.io infra/gcp/terraform/modules/oci-proxy/cloud-armor.tf"],
  },
  unlimited: {
    preset: "unlimited",
    description:
      "Counts pulls per identity as Docker Hub does (visible in stats and metrics) and never refuses; for conformance runs",
    rules: [
      {
        name: "pulls",
        layer: "registry",
        counts: DOCKER_PULL,
        anonymousBy: "ip",
        authenticatedBy: "account",
        limits: {},
        headers: false,
        retryAfter: false,
        refusal: DOCKER_HUB_429,
      },
    ],
    tokenLimitParameters: false,
    sources: ["OCI conformance does not test 429 (opencontainers/distribution-spec conformance/)"],
  },
};

export const DEFAULT_PRESET = "dockerhub-2020";

export function preset(name: string): Policy | undefined {
  const found = own(PRESETS, name);
  return found ? structuredClone(found) : undefined;
}
