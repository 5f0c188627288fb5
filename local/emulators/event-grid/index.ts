/**
 * Event Grid, emulated on a virtual clock: delivery and retries (`delivery.ts`), envelopes and
 * batching (`cloudevents.ts`), dead-lettering (`dead-letter.ts`) and a topic publishing to filtered
 * event subscriptions (`topic.ts`). Callers import from here.
 */
export * from "./cloudevents";
export * from "./dead-letter";
export * from "./delivery";
export * from "./topic";
export { seededRng } from "../../simulate/rng";
