#!/bin/bash
# The compose stack's Kafka (KRaft, one node): SASL/SCRAM on the client listener, PLAIN on the controller's, the
# StandardAuthorizer with nothing allowed without an ACL, and the broker's own user as the one super user. The
# apache/kafka image has no setting for SCRAM users, which KRaft takes at format time, hence this script.
set -euo pipefail
umask 077  # the properties hold the broker's password

secret() {  # a password from its Docker secret file, without the trailing newline
  tr -d '\r\n' < "/run/secrets/kafka-$1-password"
}
admin=$(secret admin)
conf=/tmp/server.properties
cat > "$conf" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@kafka:9093
listeners=SASL://:9092,CONTROLLER://:9093
advertised.listeners=SASL://kafka:9092
inter.broker.listener.name=SASL
controller.listener.names=CONTROLLER
# SASL_PLAINTEXT on the stack's private network; for SASL_SSL see docs/secured-kafka.md
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL:SASL_PLAINTEXT
listener.name.sasl.sasl.enabled.mechanisms=SCRAM-SHA-256
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256
listener.name.sasl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin";
listener.name.controller.sasl.enabled.mechanisms=PLAIN
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$admin" user_admin="$admin";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin
allow.everyone.if.no.acl.found=false
log.dirs=/var/lib/kafka/data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
PROPERTIES

# for the health check: the admin client's settings
cat > /tmp/admin.properties <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-256
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin";
PROPERTIES

if [ ! -f /var/lib/kafka/data/meta.properties ]; then
  users=()
  for user in admin engine projector worker api; do
    users+=(--add-scram "SCRAM-SHA-256=[name=$user,password=$(secret "$user")]")
  done
  # the format output does not echo the passwords; keep it out of the log anyway
  /opt/kafka/bin/kafka-storage.sh format -c "$conf" --cluster-id "$(/opt/kafka/bin/kafka-storage.sh random-uuid)" \
    "${users[@]}" > /dev/null
fi
exec /opt/kafka/bin/kafka-server-start.sh "$conf"
