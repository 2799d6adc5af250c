// Test-only js-libp2p node: TCP + Noise + Yamux + identify + ping + gossipsub.
// argv[2]: multiaddr of the Python node to dial. Prints JSON lines; reads JSON commands on stdin.
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { gossipsub } from '@chainsafe/libp2p-gossipsub'
import { multiaddr } from '@multiformats/multiaddr'
import readline from 'node:readline'

// Node 20 lacks Promise.withResolvers (ES2024), which a transitive dependency calls at runtime.
if (!Promise.withResolvers) {
  Promise.withResolvers = function () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
const emit = (fields) => process.stdout.write(JSON.stringify(fields) + '\n')
const TOPICS = ['/oarn/tasks/1', '/oarn/capabilities/1', '/oarn/results/1']

const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    ping: ping(),
    pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false })
  }
})
node.services.pubsub.addEventListener('message', (event) => {
  const msg = event.detail
  emit({ event: 'message', topic: msg.topic, data: Buffer.from(msg.data).toString('base64') })
})
for (const topic of TOPICS) node.services.pubsub.subscribe(topic)
await node.start()
emit({ event: 'ready', peer_id: node.peerId.toString(), addrs: node.getMultiaddrs().map(String) })

const target = multiaddr(process.argv[2])
const connection = await node.dial(target)
emit({ event: 'connected', remote: connection.remotePeer.toString(),
       encryption: connection.encryption, multiplexer: connection.multiplexer })
const rtt = await node.services.ping.ping(target)
emit({ event: 'ping', rtt_ms: rtt })

const lines = readline.createInterface({ input: process.stdin })
for await (const line of lines) {
  const command = JSON.parse(line)
  if (command.cmd === 'stop') break
  if (command.cmd === 'publish') {
    try {
      const result = await node.services.pubsub.publish(command.topic, Buffer.from(command.data, 'base64'))
      emit({ event: 'published', recipients: result.recipients.map(String) })
    } catch (error) {
      emit({ event: 'published', error: String(error) })
    }
  }
  if (command.cmd === 'topic_peers') {
    emit({ event: 'topic_peers', peers: node.services.pubsub.getSubscribers(command.topic).map(String) })
  }
}
await node.stop()
process.exit(0)
