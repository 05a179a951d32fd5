/** Shapes shared by the scanner's modules: severities, OWASP categories, findings and their evidence. */

/** Severities, lowest first (the order `--fail-on` compares in). */
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** OWASP API Security Top 10, 2023 edition. */
export const OWASP_CATEGORIES = {
  'API1:2023': 'Broken Object Level Authorization',
  'API2:2023': 'Broken Authentication',
  'API3:2023': 'Broken Object Property Level Authorization',
  'API4:2023': 'Unrestricted Resource Consumption',
  'API5:2023': 'Broken Function Level Authorization',
  'API6:2023': 'Unrestricted Access to Sensitive Business Flows',
  'API7:2023': 'Server Side Request Forgery',
  'API8:2023': 'Security Misconfiguration',
  'API9:2023': 'Improper Inventory Management',
  'API10:2023': 'Unsafe Consumption of APIs',
} as const;
export type OwaspCategory = keyof typeof OWASP_CATEGORIES;

/** A request as the report shows it: secrets already masked, body cut to an excerpt. */
export interface EvidenceRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** A response as the report shows it: secrets already masked, body cut to an excerpt. */
export interface EvidenceResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

export interface Evidence {
  readonly request: EvidenceRequest;
  readonly response: EvidenceResponse;
}

export interface Finding {
  /** Stable per target: `<rule>:<operationId or path>[:<detail key>]`. */
  readonly id: string;
  /** The probe kind (a rule of the SARIF report), e.g. `api2.alg-none`. */
  readonly rule: string;
  readonly category: OwaspCategory;
  readonly severity: Severity;
  readonly title: string;
  /** What was seen, in one or two sentences (no secrets). */
  readonly detail: string;
  /** The operationId the finding is about, when it is about one. */
  readonly operation?: string;
  /** `METHOD /path/template` the finding is about. */
  readonly endpoint: string;
  readonly evidence: readonly Evidence[];
  /** How to fix it, including the Rampart config that would block it. */
  readonly fix: string;
}
