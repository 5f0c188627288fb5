/**
 * What another delivery may fix, for every decision the handler makes (gate events, the sweep, AKS
 * upgrade events): a transient ARM or state-store failure, a lost conditional write, or a `Transient`
 * a decision throws itself (a gate in transition, an announcement another delivery is sending). The
 * trigger then asks Event Grid to redeliver; anything else is decided and acknowledged.
 */
import { ArmError } from "./arm-client";
import { StateStoreError } from "./state";

/** A condition the decision cannot settle now; its message is the reason recorded. */
export class Transient extends Error {
    constructor(message: string) {
        super(message);
        this.name = "Transient";
    }
}

export function isTransient(e: unknown): boolean {
    return (
        e instanceof Transient ||
        (e instanceof ArmError && e.transient) ||
        (e instanceof StateStoreError && e.transient) ||
        (e instanceof Error && e.name === "StateConflictError")
    );
}
