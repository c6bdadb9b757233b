#!/bin/sh
# Gives the bootfleet server its own account on a Mosquitto with the
# dynamic-security plugin (docs/control-plane.md, "External broker").
# Run once, as the dynamic-security admin made by `mosquitto_ctrl dynsec init`.
#
#   provision-server.sh <host> <port> <admin-user> <admin-password> <server-user> <server-password>
#
# The server account gets two roles:
#   admin             - the dynsec admin role: lets the server create device accounts at enrolment
#   bootfleet-server  - publish desired state and commands, read reports and presence
# The server never changes its own roles while connected (Mosquitto 2.0.11 kicks the
# client and loses the answer), which is why this runs before the server starts.
set -eu
[ "$#" -eq 6 ] || { echo "usage: $0 host port admin-user admin-password server-user server-password" >&2; exit 2; }
host=$1 port=$2 admin=$3 adminpw=$4 user=$5 userpw=$6
ctrl() { mosquitto_ctrl -h "$host" -p "$port" -u "$admin" -P "$adminpw" dynsec "$@" 2>/dev/null; }

ctrl createRole bootfleet-server || true
for kind in desired commands; do
  ctrl addRoleACL bootfleet-server publishClientSend "bootfleet/v1/devices/+/$kind" allow
done
for kind in reports presence; do
  ctrl addRoleACL bootfleet-server subscribePattern "bootfleet/v1/devices/+/$kind" allow
  ctrl addRoleACL bootfleet-server publishClientReceive "bootfleet/v1/devices/+/$kind" allow
done
# Deny by default: a device gets only the ACL of its own role (made at enrolment).
ctrl setDefaultACLAccess publishClientSend deny
ctrl setDefaultACLAccess publishClientReceive deny
ctrl setDefaultACLAccess subscribe deny
ctrl createClient "$user" -c 'bootfleet:server' -p "$userpw"
ctrl addClientRole "$user" admin
ctrl addClientRole "$user" bootfleet-server
echo "server account $user ready (client id bootfleet:server)"
