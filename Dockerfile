# One image for the API and the worker (see docker-compose.yml).
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY src ./src
COPY db ./db
COPY integrations ./integrations
COPY sandbox ./sandbox
COPY tsconfig.json ./
ENV NODE_ENV=production CAUSEWAY_DATA_DIR=/var/lib/causeway
RUN mkdir -p /var/lib/causeway && chown node:node /var/lib/causeway
USER node
EXPOSE 8080
# The node flag: see bin/causeway.js.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=64", "bin/causeway.js"]
CMD ["serve"]
