/** A partition of a topic: the unit that is assigned, fetched, committed. One definition for the client. */
export interface TopicPartition {
  topic: string
  partition: number
}

/** A map key for `tp`; unambiguous, as a topic name never contains NUL. */
export function topicPartitionKey(tp: TopicPartition): string {
  return `${tp.topic}\u0000${tp.partition}`
}

/** `orders-3`, as Kafka prints a partition. */
export function topicPartitionName(tp: TopicPartition): string {
  return `${tp.topic}-${tp.partition}`
}
