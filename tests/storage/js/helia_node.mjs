// Test-only: a Helia node (js IPFS) with bitswap over TCP + Noise + Yamux + identify, no DHT, no
// routers, listening on 127.0.0.1. It is driven by JSON lines on stdin and answers JSON lines on
// stdout:
//   {"cmd":"dial","addr":MULTIADDR}          -> {"event":"dialled","peer_id":...}
//   {"cmd":"add","path":FILE}                -> {"event":"added","cid":...}   (oarn's layout)
//   {"cmd":"cat","cid":CID,"out":FILE}       -> {"event":"fetched","cid":...,"bytes":N}
//   {"cmd":"hangup","peer_id":PEER}          -> {"event":"hung_up"}  (closes every connection)
//   {"cmd":"stop"}                           -> exits
// Errors come back as {"event":"error","cmd":...,"message":...}.
import { readFile, writeFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'

if (typeof Promise.withResolvers !== 'function') {
  // Node 20 lacks it; libp2p 3 uses it
  Promise.withResolvers = function () {
    let resolve, reject
    const promise = new Promise((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

const { createHeliaLight } = await import('helia')
const { withLibp2pLight } = await import('@helia/libp2p')
const { withBitswap } = await import('@helia/bitswap')
const { unixfs } = await import('@helia/unixfs')
const { tcp } = await import('@libp2p/tcp')
const { noise } = await import('@chainsafe/libp2p-noise')
const { yamux } = await import('@chainsafe/libp2p-yamux')
const { identify } = await import('@libp2p/identify')
const { multiaddr } = await import('@multiformats/multiaddr')
const { CID } = await import('multiformats/cid')
const { peerIdFromString } = await import('@libp2p/peer-id')
const { fixedSize } = await import('ipfs-unixfs-importer/chunker')
const { balanced } = await import('ipfs-unixfs-importer/layout')

function say (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

const helia = withBitswap(withLibp2pLight(createHeliaLight(), {
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { identify: identify() }
}))
await helia.start()
const fs = unixfs(helia)

say({
  event: 'ready',
  peer_id: helia.libp2p.peerId.toString(),
  addrs: helia.libp2p.getMultiaddrs().map(ma => ma.toString())
})

async function handle (msg) {
  if (msg.cmd === 'dial') {
    const conn = await helia.libp2p.dial(multiaddr(msg.addr), { signal: AbortSignal.timeout(20000) })
    say({ event: 'dialled', peer_id: conn.remotePeer.toString() })
  } else if (msg.cmd === 'add') {
    const cid = await fs.addBytes(await readFile(msg.path), {
      cidVersion: 1,
      rawLeaves: true,
      chunker: fixedSize({ chunkSize: msg.chunk_size ?? 262144 }),
      layout: balanced({ maxChildrenPerNode: msg.max_children ?? 174 })
    })
    say({ event: 'added', cid: cid.toString() })
  } else if (msg.cmd === 'cat') {
    const parts = []
    let size = 0
    const started = Date.now()
    for await (const chunk of fs.cat(CID.parse(msg.cid), { signal: AbortSignal.timeout(msg.timeout_ms ?? 60000) })) {
      parts.push(chunk)
      size += chunk.length
    }
    await writeFile(msg.out, Buffer.concat(parts, size))
    say({ event: 'fetched', cid: msg.cid, bytes: size, ms: Date.now() - started })
  } else if (msg.cmd === 'hangup') {
    await helia.libp2p.hangUp(peerIdFromString(msg.peer_id))
    say({ event: 'hung_up' })
  } else if (msg.cmd === 'stop') {
    await helia.stop()
    process.exit(0)
  } else {
    throw new Error(`unknown command ${msg.cmd}`)
  }
}

const lines = createInterface({ input: process.stdin })
lines.on('line', line => {
  let msg
  try {
    msg = JSON.parse(line)
  } catch {
    return
  }
  handle(msg).catch(err => say({ event: 'error', cmd: msg.cmd, message: String(err?.message ?? err) }))
})
lines.on('close', () => { helia.stop().finally(() => process.exit(0)) })
