#!/bin/sh
echo "$GREETING on $(uname -m) (built on $(cat /etc/built-on))"
