/**
 * A small fake of the browser's WebSocket for unit tests: records every socket
 * the code under test opens and lets the test play the server.
 */
type Handler<E> = ((event: E) => void) | null;

export class FakeWebSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  static instances: FakeWebSocket[] = [];

  static reset(): void {
    FakeWebSocket.instances = [];
  }

  static get last(): FakeWebSocket {
    const socket = FakeWebSocket.instances.at(-1);
    if (!socket) throw new Error("no socket was opened");
    return socket;
  }

  /** Sockets neither closed nor closing. */
  static get live(): FakeWebSocket[] {
    return FakeWebSocket.instances.filter((s) => s.readyState <= FakeWebSocket.OPEN);
  }

  readonly url: string;
  /** The subprotocols offered, as given to the constructor. */
  readonly protocols: string[];
  readyState: number = FakeWebSocket.CONNECTING;
  readonly sent: string[] = [];
  closedWith: { code: number; reason: string } | null = null;
  onopen: Handler<Event> = null;
  onmessage: Handler<MessageEvent> = null;
  onerror: Handler<Event> = null;
  onclose: Handler<CloseEvent> = null;

  constructor(url: string | URL, protocols?: string | string[]) {
    this.url = String(url);
    this.protocols = protocols === undefined ? [] : typeof protocols === "string" ? [protocols] : [...protocols];
    FakeWebSocket.instances.push(this);
  }

  send(data: string): void {
    if (this.readyState !== FakeWebSocket.OPEN) throw new Error("send on a socket that is not open");
    this.sent.push(data);
  }

  close(code = 1000, reason = ""): void {
    if (this.readyState >= FakeWebSocket.CLOSING) return;
    this.closedWith = { code, reason };
    this.finish(code, reason, true);
  }

  // ---- the server's side

  open(): void {
    this.readyState = FakeWebSocket.OPEN;
    this.onopen?.(new Event("open"));
  }

  receive(message: unknown): void {
    const data = typeof message === "string" ? message : JSON.stringify(message);
    this.onmessage?.(new MessageEvent("message", { data }));
  }

  /** The server (or the network) drops the connection. */
  drop(code = 1006, reason = ""): void {
    if (this.readyState === FakeWebSocket.CONNECTING) this.onerror?.(new Event("error"));
    this.finish(code, reason, false);
  }

  private finish(code: number, reason: string, wasClean: boolean): void {
    this.readyState = FakeWebSocket.CLOSED;
    const event = new Event("close") as CloseEvent;
    Object.assign(event, { code, reason, wasClean });
    this.onclose?.(event);
  }
}
