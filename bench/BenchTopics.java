// Creates and deletes the throw-away topics of the experiment's limit measurements (raw produce/consume
// rates, allot-bench-processor's fresh topics), with the broker's own AdminClient from the Kafka jars that
// scripts/setup already fetched. Run as a single-file source program (Java 11+), no build step:
//
//   java -cp "$HOME/.cache/allot/kafka-libs/*" bench/BenchTopics.java BROKERS create TOPIC PARTITIONS
//   java -cp "$HOME/.cache/allot/kafka-libs/*" bench/BenchTopics.java BROKERS delete TOPIC...
//   java -cp "$HOME/.cache/allot/kafka-libs/*" bench/BenchTopics.java BROKERS list
import java.util.*;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.*;

public class BenchTopics {
  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: BenchTopics BROKERS create TOPIC PARTITIONS | delete TOPIC... | list");
      System.exit(2);
    }
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
    p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
    try (Admin admin = Admin.create(p)) {
      switch (args[1]) {
        case "create": {
          NewTopic t = new NewTopic(args[2], Integer.parseInt(args[3]), (short) 1);
          admin.createTopics(List.of(t)).all().get(30, TimeUnit.SECONDS);
          break;
        }
        case "delete": {
          List<String> names = Arrays.asList(args).subList(2, args.length);
          if (!names.isEmpty()) admin.deleteTopics(names).all().get(30, TimeUnit.SECONDS);
          break;
        }
        case "list": {
          for (String n : new TreeSet<>(admin.listTopics().names().get(30, TimeUnit.SECONDS))) System.out.println(n);
          break;
        }
        default:
          System.err.println("unknown command " + args[1]);
          System.exit(2);
      }
    }
  }
}
