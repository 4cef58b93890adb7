// The programmatic API of archy-quadlet (package.json "main" and "types"): validate a manifest,
// render it into Quadlet files, plan the supervisor's steps. The CLI is built on the same modules.

export { createManifestValidator } from './manifest/validate-manifest.js';
export type { ManifestResult, ManifestValidator } from './manifest/validate-manifest.js';
export type { Manifest, ManifestError } from './manifest/types.js';
export { toAppSpec } from './manifest/app-spec.js';
export type { AppSpec } from './manifest/app-spec.js';

export { renderApp } from './render/render-app.js';
export type { RenderOptions, RenderedFile } from './render/render-app.js';

export { planSteps } from './supervise/plan-steps.js';
export type { Desired, DesiredApp, Observed, Step, StepKind } from './supervise/types.js';
