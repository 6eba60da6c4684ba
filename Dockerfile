# The fake registry as a container, for hosts with a Docker engine (see docker-compose.yml).
FROM node:24-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts
COPY bin ./bin
COPY cli ./cli
COPY fake-registry ./fake-registry
COPY simulator ./simulator
COPY reports ./reports
EXPOSE 5000
ENTRYPOINT ["node", "bin/pullstorm.js"]
CMD ["registry", "serve", "--host", "0.0.0.0", "--port", "5000"]
