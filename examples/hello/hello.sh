#!/bin/sh
echo "hello from $(cat /app/target), running on $(uname -m) (built on $(cat /app/machine))"
