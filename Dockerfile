# pullstorm as a container, for hosts with a Docker engine (see docker-compose.yml):
# the fake registry by default, or any pullstorm command (the compose runner runs a scenario).
FROM node:24-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts
COPY index.ts ./
COPY bin ./bin
COPY cli ./cli
COPY fake-registry ./fake-registry
COPY simulator ./simulator
COPY check-mirror ./check-mirror
COPY reports ./reports
COPY scenarios ./scenarios
COPY docs/examples ./docs/examples
EXPOSE 5000
ENTRYPOINT ["node", "bin/pullstorm.js"]
CMD ["registry", "serve", "--host", "0.0.0.0", "--port", "5000"]
