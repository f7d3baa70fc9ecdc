# A static eventbase binary (pure Go SQLite: CGO is not needed).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /eventbase ./cmd/eventbase

FROM gcr.io/distroless/static-debian12
COPY --from=build /eventbase /eventbase
ENV EVENTBASE_ADDR=0.0.0.0:8090 EVENTBASE_DATA_DIR=/data
VOLUME /data
EXPOSE 8090
ENTRYPOINT ["/eventbase"]
CMD ["serve"]
