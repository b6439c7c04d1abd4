/**
 * A node's line to the controller's client API, for the few requests a node makes of the
 * controller (a partition leader's AlterPartition). One WebSocket, opened on first use and again
 * after it closes or the controller moves; each request is answered or fails within its bound.
 */
import {
  type ApiName,
  type ApiRequest,
  type ApiResponse,
  decodeResponseById,
  encodeRequest,
} from '@cairn/protocol'
import WebSocket from 'ws'
import { HostError } from './raft-host.js'

/** A request to the controller gives up after this long. */
export const CONTROLLER_REQUEST_MS_MAX = 5000
/** Requests in flight on the channel at once. */
const IN_FLIGHT_MAX = 1024

interface Pending {
  api: ApiName
  resolve: (body: unknown) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

export class ControllerChannel {
  private socket: { address: string; ws: WebSocket; open: Promise<void> } | null = null
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private closed = false

  /** Sends `body` to the client API at `address` (host:port) and waits for the answer. */
  async request<A extends ApiName>(address: string, api: A, body: ApiRequest<A>): Promise<ApiResponse<A>> {
    if (this.closed) throw new HostError('NETWORK_EXCEPTION', 'the controller channel is closed')
    if (this.pending.size >= IN_FLIGHT_MAX)
      throw new HostError('REQUEST_TIMED_OUT', `${IN_FLIGHT_MAX} requests to the controller in flight`)
    const socket = this.connect(address)
    await socket.open
    const id = this.nextId
    this.nextId = (this.nextId % 0xffff_ffff) + 1
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(
          new HostError(
            'REQUEST_TIMED_OUT',
            `${api} to ${address}: no answer in ${CONTROLLER_REQUEST_MS_MAX} ms`,
          ),
        )
      }, CONTROLLER_REQUEST_MS_MAX)
      this.pending.set(id, { api, resolve: resolve as (b: unknown) => void, reject, timer })
      socket.ws.send(encodeRequest({ id, api, body }))
    })
  }

  close(): void {
    this.closed = true
    this.drop(new HostError('NETWORK_EXCEPTION', 'the controller channel closed'))
  }

  private connect(address: string): { address: string; ws: WebSocket; open: Promise<void> } {
    const s = this.socket
    if (s && s.address === address && s.ws.readyState <= WebSocket.OPEN) return s
    this.drop(new HostError('NOT_CONTROLLER', `the controller moved away from ${s?.address}`))
    const ws = new WebSocket(`ws://${address}/`, { perMessageDeflate: false })
    const open = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate()
        reject(
          new HostError('NETWORK_EXCEPTION', `${address}: not connected in ${CONTROLLER_REQUEST_MS_MAX} ms`),
        )
      }, CONTROLLER_REQUEST_MS_MAX)
      ws.once('open', () => {
        clearTimeout(timer)
        resolve()
      })
      ws.once('error', (err) => {
        clearTimeout(timer)
        reject(new HostError('NETWORK_EXCEPTION', `${address}: ${err.message}`))
      })
    })
    open.catch(() => undefined)
    ws.on('error', () => ws.terminate())
    ws.on('message', (data) => this.answer(data as Buffer))
    ws.on('close', () => {
      if (this.socket?.ws === ws)
        this.drop(new HostError('NETWORK_EXCEPTION', `${address} closed the connection`))
    })
    this.socket = { address, ws, open }
    return this.socket
  }

  private answer(data: Buffer): void {
    const decoded = decodeResponseById(data, (id) => this.pending.get(id)?.api)
    if (!decoded.ok || !decoded.value) return
    const p = this.pending.get(decoded.value.id)
    if (!p) return
    this.pending.delete(decoded.value.id)
    clearTimeout(p.timer)
    if (decoded.value.error) p.reject(new HostError(decoded.value.error, decoded.value.message ?? ''))
    else p.resolve(decoded.value.body)
  }

  /** Fails every request in flight and forgets the socket. */
  private drop(err: Error): void {
    const s = this.socket
    this.socket = null
    s?.ws.terminate()
    for (const p of this.pending.values()) {
      clearTimeout(p.timer)
      p.reject(err)
    }
    this.pending.clear()
  }
}
