<?php
// Send one message with PHPMailer (Debian's libphp-phpmailer) over SMTP;
// SMTPAutoTLS (the default) upgrades when STARTTLS is offered, on starttls runs.
// Usage: php phpmailer.php SPEC.json
require '/usr/share/php/libphp-phpmailer/autoload.php';

use PHPMailer\PHPMailer\PHPMailer;

$spec = json_decode(file_get_contents($argv[1]), true);
$mail = new PHPMailer(true);
$mail->isSMTP();
$mail->Host = $spec['host'];
$mail->Port = $spec['port'];
$mail->SMTPAuth = false;
$mail->Helo = $spec['helo'];
$mail->Hostname = ltrim(rtrim($spec['helo'], ']'), '[');
$mail->SMTPAutoTLS = $spec['starttls'];
$mail->SMTPOptions = ['ssl' => ['verify_peer' => false, 'verify_peer_name' => false, 'allow_self_signed' => true]];
$mail->Timeout = 30;
$mail->setFrom($spec['sender']);
foreach ($spec['recipients'] as $rcpt) {
    $mail->addAddress($rcpt);
}
$mail->Subject = $spec['subject'];
$mail->Body = $spec['body'];
try {
    $mail->send();
    echo "sent\n";
} catch (Exception $e) {
    echo "smtp error: " . $mail->ErrorInfo . "\n";
    exit(75);
}
