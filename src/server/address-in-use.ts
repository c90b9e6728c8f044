/**
 * A listen address that another process already holds: the one start-up
 * failure an operator fixes by choosing another address (or stopping the
 * other process), so the command line reports it as a usage error (exit 2)
 * in one line, naming the address and the setting it came from.
 */
export class AddressInUse extends Error {
  constructor(
    readonly address: string,
    readonly setting: string,
  ) {
    super(`cannot listen on ${address} (${setting}): the address is already in use by another process; stop it or choose another ${setting}`);
    this.name = "AddressInUse";
  }
}

/** True for the errors grpc-js and node:net give when binding an address that is taken. */
export function isAddressInUse(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  // node:net sets code; grpc-js only names the cause inside its message.
  return (err as { code?: unknown }).code === "EADDRINUSE" || err.message.includes("EADDRINUSE");
}
